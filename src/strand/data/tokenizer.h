// Tokenizers for biological sequences.
//
//   nucleotide  bionemo's nucleotide_fast_tokenizer (256): <EOS>=0 <PAD>=1 <BOS>=2 <UNK>=3, every other
//               character its code point (A 65, C 67, G 71, T 84, a 97, ..., é 233, ÿ 255), vocab 256. Like
//               the HF tokenizer.json it mirrors, it works on Unicode characters of UTF-8 text: code points
//               0-3 and from 256 up are unknown, and so is each byte of invalid UTF-8.
//   char        savanna / Evo 2 CharLevelTokenizer: token = byte value of the UTF-8 text (é -> 195 169),
//               EOD=0, PAD=1, vocab 512; no BOS and no UNK (every byte has an id).
//   wordlevel   a HF tokenizer.json of the WordLevel kind whose vocabulary holds single characters and whose
//               pre-tokenizer splits every character (Split on "" with Isolated behaviour, as bionemo's
//               nucleotide_fast_tokenizer_256/512); it works on characters, as nucleotide does.
//   esm         transformers' EsmTokenizer with the vocabulary of the facebook/esm2 models (Note [ESM text]):
//               <cls>=0 <pad>=1 <eos>=2 <unk>=3, residues L A G V S E R T I D P K Q N F Y M H W C X B U Z O
//               (4-28), '.'=29 '-'=30, <null_1>=31, <mask>=32; vocab 33. BOS is <cls>.
// Characters outside the vocabulary become UNK and are counted (unknown_count()), never dropped silently.
// Special tokens are never produced from text ("<EOS>" in a sequence is five characters), except by esm.
//
// Note [ESM text]: EsmTokenizer first cuts the text at every vocabulary entry, the token names included,
// then splits what lies between on whitespace (Python's str.split()). So every residue character is one
// token, whitespace is dropped, "<mask>" (or any other token name) in the text is that token, and a run of
// other characters with no whitespace or vocabulary entry inside is ONE <unk> ("MKabC" -> M K <unk> C),
// whose characters all count as unknown. Lowercase letters are not in the vocabulary: "mk" is one <unk>.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace strand::data {

class Tokenizer {
 public:
  static Tokenizer nucleotide();
  static Tokenizer char_level();
  static Tokenizer esm();
  // A HF tokenizer.json (model.type "WordLevel", single-character vocabulary, added special tokens), or a
  // directory holding one. BOS/EOS/PAD/MASK come from special_tokens_map.json or tokenizer_config.json beside
  // it when present, else from the usual names (<BOS> <s> <bos>, <EOS> </s> <eos> <EOD>, <PAD> <pad> [PAD],
  // <MASK> <mask> [MASK]); UNK is model.unk_token. Throws strand::Error naming the file for anything this
  // class cannot reproduce.
  static Tokenizer from_hf_json(const std::string& path);
  // "nucleotide", "char", "esm", or a path to a tokenizer.json (or a directory holding one).
  static Tokenizer by_name(const std::string& name_or_path);

  // Appends the ids of `text` to `out` and returns how many characters were unknown (also added to
  // unknown_count()). Thread-safe.
  uint64_t encode(std::string_view text, std::vector<int32_t>& out) const;
  // Characters of `ids` as UTF-8 (char: the bytes), special tokens and unused ids skipped. An id outside
  // [0, vocab_size) is an error.
  std::string decode(std::span<const int32_t> ids) const;

  const std::string& name() const { return name_; }
  int64_t vocab_size() const { return vocab_size_; }
  int32_t bos() const { return bos_; }    // -1 when the tokenizer has none
  int32_t eos() const { return eos_; }    // also the EOD id; -1 when none
  int32_t pad() const { return pad_; }    // -1 when none
  int32_t unk() const { return unk_; }    // -1 when every byte is in the vocabulary
  int32_t mask() const { return mask_; }  // the masked-LM placeholder; -1 when none
  // BOS, EOS, PAD, UNK, MASK and any other added special token of a tokenizer.json: the ids of HF's
  // all_special_ids, which masked-LM training never selects.
  bool is_special(int32_t id) const;
  uint64_t unknown_count() const { return unknown_->load(); }

  // Writes tokenizer.json, tokenizer_config.json and special_tokens_map.json into `dir` (created if missing)
  // for a HF export that transformers' PreTrainedTokenizerFast loads. The char tokenizer is written with its
  // characters as code points 2-255, which encodes ASCII text as strand does; non-ASCII text differs, since
  // HF tokenizers work on characters, not bytes. The esm tokenizer is written as the facebook/esm2 models
  // ship theirs, for transformers' EsmTokenizer: vocab.txt, tokenizer_config.json, special_tokens_map.json.
  void write_hf_files(const std::string& dir) const;

 private:
  // How text becomes ids.
  enum class Reading {
    characters,  // one id per Unicode character (nucleotide, wordlevel)
    bytes,       // one id per byte of the text (char)
    esm,         // EsmTokenizer's rules (Note [ESM text])
  };

  uint64_t encode_esm(std::string_view text, std::vector<int32_t>& out) const;
  void write_esm_files(const std::string& dir) const;

  // Looks up a code point; -1 when it is not in the vocabulary.
  int32_t id_of(uint32_t code_point) const {
    return code_point < cp_to_id_.size() ? cp_to_id_[code_point] : -1;
  }

  std::string name_;
  int64_t vocab_size_ = 0;
  int32_t bos_ = -1, eos_ = -1, pad_ = -1, unk_ = -1, mask_ = -1;
  Reading reading_ = Reading::characters;
  std::vector<int32_t> cp_to_id_;     // [largest code point + 1]; -1 = unknown
  std::vector<std::string> id_text_;  // [vocab]: the character (UTF-8) or the token's name; "" unused
  std::vector<bool> id_special_;      // [vocab]
  std::shared_ptr<std::atomic<uint64_t>> unknown_ = std::make_shared<std::atomic<uint64_t>>(0);
};

}  // namespace strand::data
