#include "strand/data/tokenizer.h"

#include "strand/core/error.h"
#include "strand/core/json.h"
#include "strand/io/atomic_file.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>

namespace strand::data {
namespace {

namespace fs = std::filesystem;
using ordered_json = nlohmann::ordered_json;

constexpr uint32_t kMaxCodePoint = 0x10FFFF;

// The length of the UTF-8 sequence at `p` (1-4) with its code point, or 0 for invalid UTF-8 (a stray
// continuation byte, a truncated sequence, an overlong form, a surrogate, or a value above U+10FFFF).
size_t decode_utf8(const unsigned char* p, size_t n, uint32_t& cp) {
  const unsigned char c = p[0];
  size_t len = 0;
  uint32_t min = 0;
  if (c < 0x80) {
    cp = c;
    return 1;
  } else if ((c & 0xE0) == 0xC0) {
    len = 2, cp = c & 0x1F, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3, cp = c & 0x0F, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4, cp = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (n < len) return 0;
  for (size_t i = 1; i < len; ++i) {
    if ((p[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (p[i] & 0x3F);
  }
  if (cp < min || cp > kMaxCodePoint || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

std::string encode_utf8(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (cp >> 18));
    s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

// The single code point `s` holds, if it holds exactly one.
std::optional<uint32_t> single_code_point(const std::string& s) {
  if (s.empty()) return std::nullopt;
  uint32_t cp = 0;
  const size_t len = decode_utf8(reinterpret_cast<const unsigned char*>(s.data()), s.size(), cp);
  if (len == 0 || len != s.size()) return std::nullopt;
  return cp;
}

// Python's str.isspace(): where EsmTokenizer's str.split() cuts text.
bool is_python_space(uint32_t cp) {
  if ((cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || (cp >= 0x2000 && cp <= 0x200A)) return true;
  switch (cp) {
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return false;
  }
}

// Whether a tokenizer.json pre_tokenizer cuts text into single characters.
bool splits_every_character(const nlohmann::json& pt) {
  if (!pt.is_object()) return false;
  const std::string type = pt.value("type", "");
  if (type == "Sequence") {
    const auto it = pt.find("pretokenizers");
    return it != pt.end() && it->is_array() && it->size() == 1 && splits_every_character((*it)[0]);
  }
  if (type != "Split") return false;
  const auto pattern = pt.find("pattern");
  if (pattern == pt.end() || !pattern->is_object() || pattern->size() != 1) return false;
  const auto entry = pattern->begin();
  if ((entry.key() != "String" && entry.key() != "Regex") || entry.value() != "") return false;
  if (pt.value("behavior", "") != "Isolated") return false;
  const auto invert = pt.find("invert");
  return invert == pt.end() || *invert == false;
}

// A special token's name from special_tokens_map.json / tokenizer_config.json: a string or {"content": ...}.
std::optional<std::string> token_name(const nlohmann::json& config, const char* key) {
  const auto it = config.find(key);
  if (it == config.end()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) {
    const auto content = it->find("content");
    if (content != it->end() && content->is_string()) return content->get<std::string>();
  }
  return std::nullopt;
}

}  // namespace

Tokenizer Tokenizer::nucleotide() {
  Tokenizer t;
  t.name_ = "nucleotide";
  t.vocab_size_ = 256;
  t.eos_ = 0, t.pad_ = 1, t.bos_ = 2, t.unk_ = 3;
  t.cp_to_id_.assign(256, -1);
  t.id_text_.assign(256, "");
  t.id_special_.assign(256, false);
  const char* specials[] = {"<EOS>", "<PAD>", "<BOS>", "<UNK>"};
  for (int id = 0; id < 4; ++id) {
    t.id_text_[id] = specials[id];
    t.id_special_[id] = true;
  }
  for (int id = 4; id < 256; ++id) {
    t.cp_to_id_[id] = id;
    t.id_text_[id] = encode_utf8(static_cast<uint32_t>(id));
  }
  return t;
}

Tokenizer Tokenizer::char_level() {
  Tokenizer t;
  t.name_ = "char";
  t.vocab_size_ = 512;
  t.eos_ = 0, t.pad_ = 1;
  t.reading_ = Reading::bytes;
  t.cp_to_id_.resize(256);
  t.id_text_.assign(512, "");
  t.id_special_.assign(512, false);
  for (int b = 0; b < 256; ++b) {
    t.cp_to_id_[b] = b;
    t.id_text_[b] = std::string(1, static_cast<char>(b));
  }
  t.id_text_[0] = "<EOS>";
  t.id_text_[1] = "<PAD>";
  t.id_special_[0] = t.id_special_[1] = true;
  return t;
}

Tokenizer Tokenizer::esm() {
  Tokenizer t;
  t.name_ = "esm";
  t.reading_ = Reading::esm;
  // The vocab.txt of the facebook/esm2 models, in id order.
  t.id_text_ = {"<cls>", "<pad>", "<eos>", "<unk>"};
  for (const char residue : std::string_view("LAGVSERTIDPKQNFYMHWCXBUZO.-"))
    t.id_text_.emplace_back(1, residue);
  t.id_text_.insert(t.id_text_.end(), {"<null_1>", "<mask>"});
  t.vocab_size_ = static_cast<int64_t>(t.id_text_.size());
  t.bos_ = 0, t.pad_ = 1, t.eos_ = 2, t.unk_ = 3, t.mask_ = 32;
  t.cp_to_id_.assign(128, -1);
  for (int32_t id = 0; id < t.vocab_size_; ++id)
    if (t.id_text_[id].size() == 1) t.cp_to_id_[static_cast<unsigned char>(t.id_text_[id][0])] = id;
  // EsmTokenizer's all_special_ids; <null_1> is an ordinary (never used) token there, and here.
  t.id_special_.assign(t.id_text_.size(), false);
  for (const int32_t id : {t.bos_, t.pad_, t.eos_, t.unk_, t.mask_}) t.id_special_[id] = true;
  return t;
}

Tokenizer Tokenizer::from_hf_json(const std::string& path) {
  fs::path file(path);
  if (fs::is_directory(file)) file /= "tokenizer.json";
  const std::string where = file.string();
  const nlohmann::json j = read_json_file(where);
  const auto fail = [&where](const std::string& what) { throw Error(fmt::format("{}: {}", where, what)); };

  STRAND_CHECK(j.is_object(), "{}: expected a JSON object", where);
  const auto model = j.find("model");
  if (model == j.end() || !model->is_object()) fail("no \"model\" object");
  if (model->value("type", "") != "WordLevel") {
    fail(fmt::format("model type '{}' is not supported (only WordLevel)",
                     printable(model->value("type", ""))));
  }
  const auto normalizer = j.find("normalizer");
  if (normalizer != j.end() && !normalizer->is_null()) {
    fail(fmt::format("normalizer {} is not supported (only none)", printable(normalizer->dump())));
  }
  const auto pre = j.find("pre_tokenizer");
  if (pre == j.end() || !splits_every_character(*pre)) {
    fail(fmt::format("pre_tokenizer {} does not split every character (expected Split on \"\", Isolated)",
                     pre == j.end() ? std::string("(none)") : printable(pre->dump())));
  }

  // id -> (text, special)
  std::map<int64_t, std::pair<std::string, bool>> entries;
  std::map<std::string, bool> added;  // content -> special
  const auto add = [&](int64_t id, const std::string& text, bool special) {
    if (id < 0 || id >= (int64_t{1} << 31))
      fail(fmt::format("token '{}' has invalid id {}", printable(text), id));
    const auto [it, inserted] = entries.emplace(id, std::make_pair(text, special));
    if (!inserted && it->second.first != text) {
      fail(fmt::format("id {} is used by both '{}' and '{}'", id, printable(it->second.first),
                       printable(text)));
    }
    if (special) it->second.second = true;
  };
  const auto added_tokens = j.find("added_tokens");
  if (added_tokens != j.end() && !added_tokens->is_null()) {
    if (!added_tokens->is_array()) fail("\"added_tokens\" is not an array");
    for (const auto& a : *added_tokens) {
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || !a.contains("content") ||
          !a["content"].is_string()) {
        fail(fmt::format("malformed added token {}", printable(a.dump())));
      }
      const std::string content = a["content"].get<std::string>();
      const bool special = a.value("special", false);
      if (!special && !single_code_point(content)) {
        fail(fmt::format("added token '{}' is neither special nor a single character", printable(content)));
      }
      added[content] = special;
      add(a["id"].get<int64_t>(), content, special);
    }
  }
  const auto vocab = model->find("vocab");
  if (vocab == model->end() || !vocab->is_object()) fail("no \"model.vocab\" object");
  Tokenizer t;
  for (const auto& [text, id] : vocab->items()) {
    if (!id.is_number_integer())
      fail(fmt::format("vocabulary id of '{}' is not an integer", printable(text)));
    const auto a = added.find(text);
    const bool special = a != added.end() && a->second;
    if (!special && !single_code_point(text)) {
      fail(fmt::format("vocabulary entry '{}' is longer than one character and not a special token",
                       printable(text)));
    }
    add(id.get<int64_t>(), text, special);
  }
  if (entries.empty()) fail("empty vocabulary");

  t.name_ = where;
  t.vocab_size_ = entries.rbegin()->first + 1;
  t.id_text_.assign(static_cast<size_t>(t.vocab_size_), "");
  t.id_special_.assign(static_cast<size_t>(t.vocab_size_), false);
  std::map<std::string, int32_t> special_ids;
  for (const auto& [id, entry] : entries) {
    const auto& [text, special] = entry;
    t.id_text_[id] = text;
    t.id_special_[id] = special;
    if (special) {
      special_ids[text] = static_cast<int32_t>(id);
      continue;
    }
    const uint32_t cp = *single_code_point(text);
    if (cp >= t.cp_to_id_.size()) t.cp_to_id_.resize(cp + 1, -1);
    if (t.cp_to_id_[cp] >= 0 && t.cp_to_id_[cp] != id) {
      fail(fmt::format("character '{}' has two ids, {} and {}", printable(text), t.cp_to_id_[cp], id));
    }
    t.cp_to_id_[cp] = static_cast<int32_t>(id);
  }

  // Which special token plays which role: special_tokens_map.json, then tokenizer_config.json, when either is
  // beside the file; the usual names otherwise.
  std::vector<std::pair<std::string, nlohmann::json>> configs;
  for (const char* name : {"special_tokens_map.json", "tokenizer_config.json"}) {
    const fs::path beside = file.parent_path() / name;
    if (fs::exists(beside)) configs.emplace_back(beside.string(), read_json_file(beside.string()));
  }
  const auto role = [&](const char* key, std::initializer_list<const char*> usual) -> int32_t {
    for (const auto& [config_path, config] : configs) {
      const auto named = token_name(config, key);
      if (!named) continue;
      const auto it = special_ids.find(*named);
      STRAND_CHECK(it != special_ids.end(), "{}: {} '{}' is not a special token of {}", config_path, key,
                   printable(*named), where);
      return it->second;
    }
    if (!configs.empty()) return -1;
    for (const char* name : usual) {
      const auto it = special_ids.find(name);
      if (it != special_ids.end()) return it->second;
    }
    return -1;
  };
  t.bos_ = role("bos_token", {"<BOS>", "<s>", "<bos>"});
  t.eos_ = role("eos_token", {"<EOS>", "</s>", "<eos>", "<EOD>", "<eod>"});
  t.pad_ = role("pad_token", {"<PAD>", "<pad>", "[PAD]"});
  t.mask_ = role("mask_token", {"<MASK>", "<mask>", "[MASK]"});
  const auto unk = model->find("unk_token");
  if (unk != model->end() && unk->is_string()) {
    const auto it = special_ids.find(unk->get<std::string>());
    if (it != special_ids.end()) t.unk_ = it->second;
  }
  return t;
}

Tokenizer Tokenizer::by_name(const std::string& name_or_path) {
  if (name_or_path == "nucleotide") return nucleotide();
  if (name_or_path == "char" || name_or_path == "char_level") return char_level();
  if (name_or_path == "esm") return esm();
  STRAND_CHECK(fs::exists(name_or_path),
               "unknown tokenizer '{}' (expected nucleotide, char, esm, or the path of a tokenizer.json)",
               printable(name_or_path));
  return from_hf_json(name_or_path);
}

uint64_t Tokenizer::encode(std::string_view text, std::vector<int32_t>& out) const {
  out.reserve(out.size() + text.size());
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  if (reading_ == Reading::bytes) {
    for (size_t i = 0; i < n; ++i) out.push_back(cp_to_id_[p[i]]);
    return 0;
  }
  if (reading_ == Reading::esm) return encode_esm(text, out);
  uint64_t unknown = 0;
  size_t i = 0;
  while (i < n) {
    int32_t id = -1;
    uint32_t cp = p[i];
    size_t len = 1;
    if (cp < 0x80) {
      id = id_of(cp);
    } else {
      len = decode_utf8(p + i, n - i, cp);
      if (len == 0) {
        len = 1;  // each byte of invalid UTF-8 is one unknown character
      } else {
        id = id_of(cp);
      }
    }
    i += len;
    if (id < 0) {
      STRAND_CHECK(unk_ >= 0,
                   "tokenizer {}: character {} at byte {} is not in the vocabulary, which has no UNK", name_,
                   printable(std::string(text.substr(i - len, len))), i - len);
      id = unk_;
      ++unknown;
    }
    out.push_back(id);
  }
  if (unknown > 0) unknown_->fetch_add(unknown, std::memory_order_relaxed);
  return unknown;
}

uint64_t Tokenizer::encode_esm(std::string_view text, std::vector<int32_t>& out) const {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  uint64_t unknown = 0;
  bool in_unknown_run = false;  // the last id is a <unk> that the next unknown character joins
  size_t i = 0;
  while (i < n) {
    if (p[i] == '<') {
      // A token name: the vocabulary's entries longer than one character.
      int32_t named = -1;
      for (int32_t id = 0; id < vocab_size_ && named < 0; ++id) {
        const std::string& name = id_text_[id];
        if (name.size() > 1 && text.substr(i).starts_with(name)) named = id;
      }
      if (named >= 0) {
        out.push_back(named);
        i += id_text_[named].size();
        in_unknown_run = false;
        continue;
      }
    }
    uint32_t cp = p[i];
    size_t len = 1;
    bool valid = true;  // each byte of invalid UTF-8 is one unknown character
    if (cp >= 0x80) {
      len = decode_utf8(p + i, n - i, cp);
      valid = len > 0;
      len = std::max<size_t>(len, 1);
    }
    i += len;
    if (valid && is_python_space(cp)) {
      in_unknown_run = false;
      continue;
    }
    const int32_t id = valid ? id_of(cp) : -1;
    if (id >= 0) {
      out.push_back(id);
      in_unknown_run = false;
      continue;
    }
    ++unknown;
    if (!in_unknown_run) out.push_back(unk_);
    in_unknown_run = true;
  }
  if (unknown > 0) unknown_->fetch_add(unknown, std::memory_order_relaxed);
  return unknown;
}

std::string Tokenizer::decode(std::span<const int32_t> ids) const {
  std::string text;
  text.reserve(ids.size());
  for (const int32_t id : ids) {
    STRAND_CHECK(id >= 0 && id < vocab_size_, "tokenizer {}: id {} outside the vocabulary [0, {})", name_, id,
                 vocab_size_);
    if (id_special_[id]) continue;
    text += id_text_[id];
  }
  return text;
}

bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && id < vocab_size_ && id_special_[id];
}

void Tokenizer::write_esm_files(const std::string& dir) const {
  std::string vocab;
  for (const std::string& token : id_text_) vocab += token + "\n";
  ordered_json map = ordered_json::object();
  for (const auto& [key, id] :
       {std::pair{"cls_token", bos_}, std::pair{"eos_token", eos_}, std::pair{"mask_token", mask_},
        std::pair{"pad_token", pad_}, std::pair{"unk_token", unk_}})
    map[key] = id_text_[id];
  ordered_json config = map;
  config["clean_up_tokenization_spaces"] = false;
  // The facebook/esm2 checkpoints' input limit, <cls> and <eos> included (EsmTokenizer's
  // max_model_input_sizes).
  config["model_max_length"] = 1024;
  config["tokenizer_class"] = "EsmTokenizer";

  const fs::path d(dir);
  io::write_file_atomic((d / "vocab.txt").string(), vocab);
  io::write_file_atomic((d / "tokenizer_config.json").string(), config.dump(2) + "\n");
  io::write_file_atomic((d / "special_tokens_map.json").string(), map.dump(2) + "\n");
}

void Tokenizer::write_hf_files(const std::string& dir) const {
  fs::create_directories(dir);
  if (reading_ == Reading::esm) return write_esm_files(dir);
  const auto flag = [](const std::string& content, bool special) {
    ordered_json a;
    a["content"] = content;
    a["lstrip"] = false;
    a["normalized"] = false;
    a["rstrip"] = false;
    a["single_word"] = false;
    a["special"] = special;
    return a;
  };

  ordered_json added = ordered_json::array();
  ordered_json added_decoder = ordered_json::object();
  ordered_json vocab = ordered_json::object();
  for (int64_t id = 0; id < vocab_size_; ++id) {
    std::string text = id_text_[id];
    if (reading_ == Reading::bytes && !id_special_[id]) {
      // Bytes as the characters of the same code points (only ASCII text encodes identically).
      if (id >= 256) continue;
      text = encode_utf8(static_cast<uint32_t>(id));
    }
    if (text.empty()) continue;
    if (id_special_[id]) {
      ordered_json a;
      a["id"] = id;
      a["content"] = text;
      a["single_word"] = false;
      a["lstrip"] = false;
      a["rstrip"] = false;
      a["normalized"] = false;
      a["special"] = true;
      added.push_back(a);
      added_decoder[std::to_string(id)] = flag(text, true);
    }
    vocab[text] = id;
  }
  const auto special_name = [this](int32_t id) { return id >= 0 ? id_text_[id] : std::string(); };

  ordered_json tok;
  tok["version"] = "1.0";
  tok["truncation"] = nullptr;
  tok["padding"] = nullptr;
  tok["added_tokens"] = added;
  tok["normalizer"] = nullptr;
  tok["pre_tokenizer"] = {
      {"type", "Split"}, {"pattern", {{"String", ""}}}, {"behavior", "Isolated"}, {"invert", false}};
  if (eos_ >= 0) {
    // As bionemo's nucleotide tokenizers: a single sequence as is, a pair joined by EOS.
    const auto sequence = [](const char* id) {
      return ordered_json{{"Sequence", {{"id", id}, {"type_id", 0}}}};
    };
    ordered_json specials = ordered_json::object();
    for (const int32_t id : {bos_, eos_}) {
      if (id < 0) continue;
      specials[special_name(id)] = {{"id", special_name(id)}, {"ids", {id}}, {"tokens", {special_name(id)}}};
    }
    tok["post_processor"] = {
        {"type", "TemplateProcessing"},
        {"single", ordered_json::array({sequence("A")})},
        {"pair",
         ordered_json::array({sequence("A"),
                              ordered_json{{"SpecialToken", {{"id", special_name(eos_)}, {"type_id", 0}}}},
                              sequence("B")})},
        {"special_tokens", specials}};
  } else {
    tok["post_processor"] = nullptr;
  }
  tok["decoder"] = {{"type", "Fuse"}};  // decode() joins the characters without spaces
  tok["model"] = {
      {"type", "WordLevel"}, {"vocab", vocab}, {"unk_token", unk_ >= 0 ? special_name(unk_) : "<UNK>"}};

  ordered_json map = ordered_json::object();
  ordered_json config;
  config["added_tokens_decoder"] = added_decoder;
  config["clean_up_tokenization_spaces"] = false;
  for (const auto& [key, id] :
       {std::pair{"bos_token", bos_}, std::pair{"eos_token", eos_}, std::pair{"pad_token", pad_},
        std::pair{"unk_token", unk_}, std::pair{"mask_token", mask_}}) {
    if (id < 0) continue;
    map[key] = special_name(id);
    config[key] = special_name(id);
  }
  config["tokenizer_class"] = "PreTrainedTokenizerFast";

  const fs::path d(dir);
  io::write_file_atomic((d / "tokenizer.json").string(), tok.dump(2) + "\n");
  io::write_file_atomic((d / "tokenizer_config.json").string(), config.dump(2) + "\n");
  io::write_file_atomic((d / "special_tokens_map.json").string(), map.dump(2) + "\n");
}

}  // namespace strand::data
