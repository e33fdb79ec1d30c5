#include "strand/data/tokenizer.h"

#include "strand/core/error.h"
#include "strand/core/json.h"

#include "expect_error.h"
#include "io/file_bytes.h"
#include "temp_dir.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace strand::data {
namespace {

using testing::error_of;

class TokenizerTest : public testing::TempDirTest {
 protected:
  void write(const std::string& name, const std::string& text) const {
    std::ofstream out(path(name), std::ios::binary);
    out << text;
  }
};

std::vector<int32_t> ids(const Tokenizer& t, std::string_view text) {
  std::vector<int32_t> out;
  t.encode(text, out);
  return out;
}

// Every code point from 0 to 600 as UTF-8, plus invalid UTF-8.
std::string every_character() {
  std::string s;
  for (uint32_t cp = 0; cp < 0x80; ++cp) s += static_cast<char>(cp);
  for (uint32_t cp = 0x80; cp <= 600; ++cp) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s + "\xe9\xff\x80" + "\xe2\x82\xac";  // Latin-1 é, 0xff, a stray continuation byte, then €
}

TEST(Tokenizer, NucleotideIdsForAcgtAndSpecials) {
  const Tokenizer t = Tokenizer::nucleotide();
  EXPECT_EQ(t.name(), "nucleotide");
  EXPECT_EQ(t.vocab_size(), 256);
  EXPECT_EQ(t.eos(), 0);
  EXPECT_EQ(t.pad(), 1);
  EXPECT_EQ(t.bos(), 2);
  EXPECT_EQ(t.unk(), 3);
  EXPECT_EQ(ids(t, "ACGTacgt"), (std::vector<int32_t>{65, 67, 71, 84, 97, 99, 103, 116}));
  EXPECT_EQ(ids(t, "N-*|"), (std::vector<int32_t>{78, 45, 42, 124}));
  for (int32_t id = 0; id < 4; ++id) EXPECT_TRUE(t.is_special(id)) << id;
  EXPECT_FALSE(t.is_special(65));
  EXPECT_FALSE(t.is_special(-1));
  EXPECT_FALSE(t.is_special(256));
  EXPECT_EQ(t.unknown_count(), 0u);
}

TEST(Tokenizer, NucleotideCountsUnknownCharacters) {
  const Tokenizer t = Tokenizer::nucleotide();
  std::vector<int32_t> out;
  // Code points 0-3 are the specials' ids, so unknown as characters; tab and newline are in the vocabulary.
  EXPECT_EQ(t.encode(std::string("A\x01\x00\x03\tC", 6), out), 3u);
  EXPECT_EQ(out, (std::vector<int32_t>{65, 3, 3, 3, 9, 67}));
  // é is U+00E9, in the vocabulary as 233, exactly as HF's WordLevel vocabulary has it; € (U+20AC) is not,
  // and each byte of invalid UTF-8 (a Latin-1 é, a lone continuation byte) is one unknown character.
  out.clear();
  EXPECT_EQ(t.encode("\xc3\xa9\xe2\x82\xac\xe9\x80G", out), 3u);
  EXPECT_EQ(out, (std::vector<int32_t>{233, 3, 3, 3, 71}));
  EXPECT_EQ(t.unknown_count(), 6u);
  // A truncated multi-byte sequence at the end.
  out.clear();
  EXPECT_EQ(t.encode("A\xe2\x82", out), 2u);
  EXPECT_EQ(out, (std::vector<int32_t>{65, 3, 3}));
  EXPECT_EQ(t.unknown_count(), 8u);
}

TEST(Tokenizer, CharLevelIdsAreBytes) {
  const Tokenizer t = Tokenizer::char_level();
  EXPECT_EQ(t.name(), "char");
  EXPECT_EQ(t.vocab_size(), 512);
  EXPECT_EQ(t.eos(), 0);
  EXPECT_EQ(t.pad(), 1);
  EXPECT_EQ(t.bos(), -1);
  EXPECT_EQ(t.unk(), -1);
  std::vector<int32_t> out;
  EXPECT_EQ(t.encode("ACGT\xc3\xa9\xff\x02", out), 0u);
  EXPECT_EQ(out, (std::vector<int32_t>{65, 67, 71, 84, 195, 169, 255, 2}));
  EXPECT_TRUE(t.is_special(0));
  EXPECT_TRUE(t.is_special(1));
  EXPECT_FALSE(t.is_special(2));
  EXPECT_EQ(t.unknown_count(), 0u);
}

TEST(Tokenizer, DecodeSkipsSpecialTokens) {
  const Tokenizer n = Tokenizer::nucleotide();
  const std::vector<int32_t> a = {2, 65, 67, 3, 233, 0, 1, 1};
  EXPECT_EQ(n.decode(a), "AC\xc3\xa9");
  EXPECT_EQ(n.decode(ids(n, "ACGTNacgtn|d__x;|")), "ACGTNacgtn|d__x;|");
  const std::vector<int32_t> out_of_range = {65, 256};
  EXPECT_THROW(n.decode(out_of_range), Error);
  const std::vector<int32_t> negative = {-1};
  EXPECT_THROW(n.decode(negative), Error);

  const Tokenizer c = Tokenizer::char_level();
  const std::vector<int32_t> b = {0, 65, 195, 169, 1, 300};
  EXPECT_EQ(c.decode(b), "A\xc3\xa9");  // 300: an id with no character
  const std::vector<int32_t> too_big = {512};
  EXPECT_THROW(c.decode(too_big), Error);
}

TEST_F(TokenizerTest, WordLevelJsonRoundTrip) {
  const Tokenizer n = Tokenizer::nucleotide();
  n.write_hf_files(path("hf"));
  EXPECT_EQ(files(), std::set<std::string>{"hf"});
  const nlohmann::json tok = read_json_file(path("hf/tokenizer.json"));
  EXPECT_EQ(tok["model"]["type"], "WordLevel");
  EXPECT_EQ(tok["model"]["unk_token"], "<UNK>");
  EXPECT_EQ(tok["model"]["vocab"].size(), 256u);
  EXPECT_EQ(tok["model"]["vocab"]["A"], 65);
  EXPECT_EQ(tok["model"]["vocab"]["\xc3\xa9"], 233);
  EXPECT_EQ(tok["model"]["vocab"]["\x04"], 4);
  EXPECT_EQ(tok["model"]["vocab"]["<EOS>"], 0);
  EXPECT_EQ(tok["pre_tokenizer"]["type"], "Split");
  EXPECT_EQ(tok["pre_tokenizer"]["pattern"]["String"], "");
  EXPECT_EQ(tok["pre_tokenizer"]["behavior"], "Isolated");
  EXPECT_EQ(tok["added_tokens"].size(), 4u);
  EXPECT_EQ(tok["normalizer"], nullptr);
  EXPECT_EQ(tok["decoder"]["type"], "Fuse");  // HF's decode() joins characters without spaces
  const nlohmann::json map = read_json_file(path("hf/special_tokens_map.json"));
  EXPECT_EQ(
      map,
      (nlohmann::json{
          {"bos_token", "<BOS>"}, {"eos_token", "<EOS>"}, {"pad_token", "<PAD>"}, {"unk_token", "<UNK>"}}));
  const nlohmann::json config = read_json_file(path("hf/tokenizer_config.json"));
  EXPECT_EQ(config["tokenizer_class"], "PreTrainedTokenizerFast");
  EXPECT_EQ(config["pad_token"], "<PAD>");
  EXPECT_EQ(config["added_tokens_decoder"]["3"]["content"], "<UNK>");

  for (const std::string& where : {path("hf/tokenizer.json"), path("hf")}) {
    const Tokenizer back = Tokenizer::from_hf_json(where);
    EXPECT_EQ(back.vocab_size(), 256);
    EXPECT_EQ(back.bos(), 2);
    EXPECT_EQ(back.eos(), 0);
    EXPECT_EQ(back.pad(), 1);
    EXPECT_EQ(back.unk(), 3);
    const std::string text = every_character();
    std::vector<int32_t> a, b;
    EXPECT_EQ(n.encode(text, a), back.encode(text, b));
    EXPECT_EQ(a, b);
    EXPECT_EQ(n.decode(a), back.decode(b));
    for (int32_t id = 0; id < 256; ++id) EXPECT_EQ(back.is_special(id), id < 4) << id;
  }
  EXPECT_EQ(Tokenizer::by_name(path("hf")).vocab_size(), 256);
}

TEST_F(TokenizerTest, CharLevelExportEncodesAsciiAlike) {
  const Tokenizer c = Tokenizer::char_level();
  c.write_hf_files(path("hf"));
  const Tokenizer back = Tokenizer::from_hf_json(path("hf/tokenizer.json"));
  EXPECT_EQ(back.eos(), 0);
  EXPECT_EQ(back.pad(), 1);
  EXPECT_EQ(back.bos(), -1);
  std::string ascii;
  for (int b = 2; b < 128; ++b) ascii += static_cast<char>(b);
  EXPECT_EQ(ids(back, ascii), ids(c, ascii));
}

// The layout of bionemo's nucleotide_fast_tokenizer_512: no config files beside it, roles from the names.
TEST_F(TokenizerTest, ReadsAWordLevelTokenizerWithoutConfigFiles) {
  nlohmann::json vocab = nlohmann::json::object();
  nlohmann::json added = nlohmann::json::array();
  const char* specials[] = {"<EOS>", "<PAD>", "<BOS>", "<UNK>"};
  for (int id = 0; id < 4; ++id) {
    vocab[specials[id]] = id;
    added.push_back({{"id", id}, {"content", specials[id]}, {"special", true}, {"normalized", false}});
  }
  for (uint32_t cp = 4; cp < 512; ++cp) {
    std::string s;
    if (cp < 0x80) {
      s += static_cast<char>(cp);
    } else {
      s += static_cast<char>(0xC0 | (cp >> 6));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
    vocab[s] = cp;
  }
  const nlohmann::json tok = {
      {"version", "1.0"},
      {"added_tokens", added},
      {"normalizer", nullptr},
      {"pre_tokenizer",
       {{"type", "Split"}, {"pattern", {{"String", ""}}}, {"behavior", "Isolated"}, {"invert", false}}},
      {"post_processor", nullptr},
      {"model", {{"type", "WordLevel"}, {"vocab", vocab}, {"unk_token", "<UNK>"}}}};
  std::filesystem::create_directories(path("t512"));
  write("t512/tokenizer.json", tok.dump());
  const Tokenizer t = Tokenizer::from_hf_json(path("t512/tokenizer.json"));
  EXPECT_EQ(t.vocab_size(), 512);
  EXPECT_EQ(t.bos(), 2);
  EXPECT_EQ(t.eos(), 0);
  EXPECT_EQ(t.pad(), 1);
  EXPECT_EQ(t.unk(), 3);
  std::vector<int32_t> out;
  EXPECT_EQ(t.encode("AC\xc4\x80\xc7\xbf\xc8\x80", out), 1u);  // U+0100 256, U+01FF 511, U+0200 unknown
  EXPECT_EQ(out, (std::vector<int32_t>{65, 67, 256, 511, 3}));
}

TEST_F(TokenizerTest, RejectsTokenizersItCannotReproduce) {
  const Tokenizer n = Tokenizer::nucleotide();
  n.write_hf_files(path("hf"));
  const nlohmann::json good = read_json_file(path("hf/tokenizer.json"));
  const auto expect_rejected = [&](nlohmann::json j, const std::string& what) {
    write("bad.json", j.dump());
    const std::string message = error_of([&] { Tokenizer::from_hf_json(path("bad.json")); });
    EXPECT_CONTAINS(message, path("bad.json") + ": ");
    EXPECT_CONTAINS(message, what);
  };
  nlohmann::json j = good;
  j["model"]["type"] = "BPE";
  expect_rejected(j, "model type 'BPE'");
  j = good;
  j["pre_tokenizer"] = {{"type", "Whitespace"}};
  expect_rejected(j, "does not split every character");
  j = good;
  j["pre_tokenizer"] = nullptr;
  expect_rejected(j, "does not split every character");
  j = good;
  j["normalizer"] = {{"type", "Lowercase"}};
  expect_rejected(j, "normalizer");
  j = good;
  j["model"]["vocab"]["AC"] = 300;
  expect_rejected(j, "longer than one character");
  j = good;
  j["model"]["vocab"]["Z"] = 65;
  expect_rejected(j, "id 65 is used by both");
  write("broken.json", "{\"model\": ");
  EXPECT_THROW(Tokenizer::from_hf_json(path("broken.json")), Error);
}

TEST(Tokenizer, ByName) {
  EXPECT_EQ(Tokenizer::by_name("nucleotide").vocab_size(), 256);
  EXPECT_EQ(Tokenizer::by_name("char").vocab_size(), 512);
  EXPECT_CONTAINS(error_of([] { Tokenizer::by_name("no-such-tokenizer"); }),
                  "unknown tokenizer 'no-such-tokenizer'");
}

TEST(Tokenizer, EsmVocabularyAndSpecials) {
  const Tokenizer t = Tokenizer::esm();
  EXPECT_EQ(t.name(), "esm");
  EXPECT_EQ(t.vocab_size(), 33);
  EXPECT_EQ(t.bos(), 0);  // <cls>
  EXPECT_EQ(t.pad(), 1);
  EXPECT_EQ(t.eos(), 2);
  EXPECT_EQ(t.unk(), 3);
  EXPECT_EQ(t.mask(), 32);
  std::vector<int32_t> expected;
  for (int32_t id = 4; id <= 30; ++id) expected.push_back(id);
  EXPECT_EQ(ids(t, "LAGVSERTIDPKQNFYMHWCXBUZO.-"), expected);
  // HF's all_special_ids: <cls> <pad> <eos> <unk> <mask>; <null_1> is an ordinary token there.
  for (int32_t id = 0; id < 33; ++id) EXPECT_EQ(t.is_special(id), id <= 3 || id == 32) << id;
  EXPECT_EQ(Tokenizer::by_name("esm").vocab_size(), 33);
  EXPECT_EQ(Tokenizer::nucleotide().mask(), -1);
  EXPECT_EQ(Tokenizer::char_level().mask(), -1);
}

// EsmTokenizer cuts text at vocabulary entries (token names included) and splits the rest on whitespace:
// whitespace disappears, and a run of other characters is one <unk> (Note [ESM text]).
TEST(Tokenizer, EsmReadsTextAsEsmTokenizerDoes) {
  const Tokenizer t = Tokenizer::esm();
  const auto encode = [&t](std::string_view text, uint64_t unknown) {
    std::vector<int32_t> out;
    EXPECT_EQ(t.encode(text, out), unknown) << text;
    return out;
  };
  using Ids = std::vector<int32_t>;
  EXPECT_EQ(encode("MKTV", 0), (Ids{20, 15, 11, 7}));
  EXPECT_EQ(encode(" MK\tT V\r\n", 0), (Ids{20, 15, 11, 7}));
  EXPECT_EQ(encode("MKabC", 2), (Ids{20, 15, 3, 23}));  // lowercase is not in the vocabulary
  EXPECT_EQ(encode("mk", 2), (Ids{3}));
  EXPECT_EQ(encode("m k", 2), (Ids{3, 3}));
  EXPECT_EQ(encode("AmB*", 2), (Ids{5, 3, 25, 3}));
  EXPECT_EQ(encode("MK<mask>V", 0), (Ids{20, 15, 32, 7}));
  EXPECT_EQ(encode("<cls><null_1><eos><pad><unk>", 0), (Ids{0, 31, 2, 1, 3}));
  EXPECT_EQ(encode("a<mask>b", 2), (Ids{3, 32, 3}));
  EXPECT_EQ(encode("<mas", 4), (Ids{3}));
  EXPECT_EQ(encode("<<mask>", 1), (Ids{3, 32}));
  EXPECT_EQ(encode("<MASK>", 2),
            (Ids{3, 20, 5, 8, 15, 3}));  // names are case-sensitive; M A S K are residues
  // Unicode: é is one unknown character, a no-break space is whitespace to Python, and each byte of invalid
  // UTF-8 is an unknown character.
  EXPECT_EQ(encode("A\xc3\xa9\xc3\xa9"
                   "B",
                   2),
            (Ids{5, 3, 25}));
  EXPECT_EQ(encode("A\xc2\xa0\xe3\x80\x80"
                   "B",
                   0),
            (Ids{5, 25}));
  EXPECT_EQ(encode("A\xff\x80"
                   "B",
                   2),
            (Ids{5, 3, 25}));
  EXPECT_EQ(t.unknown_count(), 21u);
}

TEST(Tokenizer, EsmDecode) {
  const Tokenizer t = Tokenizer::esm();
  const std::vector<int32_t> a = {0, 20, 15, 32, 3, 29, 30, 2, 1, 1};
  EXPECT_EQ(t.decode(a), "MK.-");
  const std::vector<int32_t> null = {5, 31, 5};
  EXPECT_EQ(t.decode(null), "A<null_1>A");
  EXPECT_EQ(t.decode(ids(t, "LAGVSERTIDPKQNFYMHWCXBUZO.-")), "LAGVSERTIDPKQNFYMHWCXBUZO.-");
  const std::vector<int32_t> out_of_range = {33};
  EXPECT_THROW(t.decode(out_of_range), Error);
}

// The files of the facebook/esm2 models, which transformers' EsmTokenizer.from_pretrained loads.
TEST_F(TokenizerTest, EsmWritesTheFilesEsmTokenizerLoads) {
  Tokenizer::esm().write_hf_files(path("hf"));
  EXPECT_EQ(files(), std::set<std::string>{"hf"});
  std::set<std::string> written;
  for (const auto& e : std::filesystem::directory_iterator(path("hf"))) written.insert(e.path().filename());
  EXPECT_EQ(written,
            (std::set<std::string>{"vocab.txt", "tokenizer_config.json", "special_tokens_map.json"}));
  EXPECT_EQ(io::read_text(path("hf/vocab.txt")),
            "<cls>\n<pad>\n<eos>\n<unk>"
            "\nL\nA\nG\nV\nS\nE\nR\nT\nI\nD\nP\nK\nQ\nN\nF\nY\nM\nH\nW\nC\nX\nB\nU\nZ\nO\n."
            "\n-\n<null_1>\n<mask>\n");
  const nlohmann::json specials = {{"cls_token", "<cls>"},
                                   {"eos_token", "<eos>"},
                                   {"mask_token", "<mask>"},
                                   {"pad_token", "<pad>"},
                                   {"unk_token", "<unk>"}};
  EXPECT_EQ(read_json_file(path("hf/special_tokens_map.json")), specials);
  nlohmann::json config = read_json_file(path("hf/tokenizer_config.json"));
  EXPECT_EQ(config["tokenizer_class"], "EsmTokenizer");
  EXPECT_EQ(config["model_max_length"], 1024);
  for (const auto& [key, value] : specials.items()) EXPECT_EQ(config[key], value) << key;
}

// A tokenizer.json with a mask token: its role comes from special_tokens_map.json, or from its usual name.
TEST_F(TokenizerTest, WordLevelMaskToken) {
  nlohmann::json vocab = {{"<EOS>", 0}, {"<PAD>", 1}, {"<BOS>", 2}, {"<UNK>", 3}, {"<MASK>", 4}, {"A", 5}};
  nlohmann::json added = nlohmann::json::array();
  for (const auto& [name, id] : vocab.items())
    if (name.size() > 1) added.push_back({{"id", id}, {"content", name}, {"special", true}});
  const nlohmann::json tok = {
      {"added_tokens", added},
      {"normalizer", nullptr},
      {"pre_tokenizer",
       {{"type", "Split"}, {"pattern", {{"String", ""}}}, {"behavior", "Isolated"}, {"invert", false}}},
      {"model", {{"type", "WordLevel"}, {"vocab", vocab}, {"unk_token", "<UNK>"}}}};
  std::filesystem::create_directories(path("t"));
  write("t/tokenizer.json", tok.dump());
  const Tokenizer t = Tokenizer::from_hf_json(path("t"));
  EXPECT_EQ(t.mask(), 4);
  EXPECT_TRUE(t.is_special(4));
  t.write_hf_files(path("hf"));
  EXPECT_EQ(read_json_file(path("hf/special_tokens_map.json"))["mask_token"], "<MASK>");
  EXPECT_EQ(Tokenizer::from_hf_json(path("hf")).mask(), 4);
}

TEST(Tokenizer, CopiesShareTheUnknownCounterAndEncodeIsThreadSafe) {
  const Tokenizer t = Tokenizer::nucleotide();
  const Tokenizer copy = t;
  std::vector<std::thread> threads;
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&copy] {
      for (int i = 0; i < 1000; ++i) {
        std::vector<int32_t> out;
        copy.encode("AC\x01G", out);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(t.unknown_count(), 4000u);
}

}  // namespace
}  // namespace strand::data
