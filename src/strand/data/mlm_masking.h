// Masked-language-model inputs and targets, made as transformers' DataCollatorForLanguageModeling makes them
// for bionemo's ESM-2 recipe: every token that is not special (Tokenizer::is_special, HF's all_special_ids:
// <cls> <pad> <eos> <unk> <mask> for esm) is selected with probability mlm_probability. A selected token
// becomes <mask> with probability mask_replace_prob, a uniformly random id of the whole vocabulary with
// probability random_replace_prob (HF draws from range(len(tokenizer)), specials included), and stays itself
// otherwise; its label is its original id. Every other label is kIgnoreIndex, so the loss covers exactly the
// selected tokens. Labels sit at the tokens themselves: no shift, unlike next-token prediction.
//
// Note [MLM randomness]: the draws come from Philox, so a mask depends on nothing but where its draws come
// from (MaskDraws): token t of an example uses elements 4t (selection), 4t+1 (which replacement) and 4t+2
// (the random id) of the example's stream. The training loader keys each epoch with mlm_epoch_key(seed,
// epoch) and each example with its position in that epoch's order, so a resumed loader masks exactly as an
// uninterrupted one; validation examples are keyed with mlm_validation_key(seed) and their index, so every
// evaluation sees the same masks.
#pragma once

#include "strand/data/tokenizer.h"

#include <cstdint>
#include <span>
#include <vector>

namespace strand::data {

struct MlmOptions {
  double mlm_probability = 0.15;     // chance that a token other than a special one is selected (predicted)
  double mask_replace_prob = 0.8;    // chance that a selected token is replaced by <mask>
  double random_replace_prob = 0.1;  // chance that a selected token is replaced by a random id; the rest
                                     // (1 - mask_replace_prob - random_replace_prob) stay unchanged
};

// Where the draws of one example's mask come from: Philox stream `stream` under key `key`.
struct MaskDraws {
  uint64_t key = 0;
  uint64_t stream = 0;
};

// The key of training epoch `epoch`'s masks under the data seed.
uint64_t mlm_epoch_key(uint64_t seed, uint64_t epoch);
// The key of validation masks under the data seed: fixed, and apart from every epoch's.
uint64_t mlm_validation_key(uint64_t seed);

// Masks examples for one tokenizer and set of options. Immutable, so thread-safe.
class MlmMasker {
 public:
  // Checks that the tokenizer has a mask token and that the options are probabilities summing to at most 1.
  MlmMasker(const Tokenizer& tokenizer, const MlmOptions& options);

  // Replaces the selected tokens of one example in place and writes every label. Checks that labels has the
  // size of tokens and that every token is an id of the tokenizer.
  void mask(std::span<int32_t> tokens, std::span<int32_t> labels, const MaskDraws& draws) const;

  int32_t pad() const { return pad_; }  // the tokenizer's PAD (-1 when none), which padded batches fill with

 private:
  std::vector<bool> selectable_;  // [vocab]: not a special token
  int32_t mask_id_ = -1;
  int32_t pad_ = -1;
  uint64_t vocab_size_ = 0;
  // Probabilities as thresholds on 32 random bits: an event happens when the bits are below its threshold.
  uint64_t select_below_ = 0;
  uint64_t mask_below_ = 0;
  uint64_t mask_or_random_below_ = 0;
};

}  // namespace strand::data
