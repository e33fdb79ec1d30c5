#include "strand/data/mlm_masking.h"

#include "strand/core/error.h"
#include "strand/core/philox.h"
#include "strand/ops/loss.h"

#include <cmath>

namespace strand::data {
namespace {

// Streams of the data seed from which mask keys are drawn, apart from the loader's shuffles (streams 0, 1,
// ... for the epochs) and the validation split (stream 2^20). Index = the epoch for training keys, 0 for
// validation.
constexpr uint64_t kTrainingMaskKeys = 0x4D4C4D'00000000;  // "MLM"
constexpr uint64_t kValidationMaskKeys = 0x4D4C4D'00000001;

uint64_t draw_key(uint64_t seed, uint64_t stream, uint64_t index) {
  return (static_cast<uint64_t>(philox_bits(seed, stream, 2 * index)) << 32) |
         philox_bits(seed, stream, 2 * index + 1);
}

// `probability` as a threshold on 32 random bits (1 is 2^32: always).
uint64_t threshold(double probability) {
  return static_cast<uint64_t>(std::llround(probability * 4294967296.0));
}

}  // namespace

uint64_t mlm_epoch_key(uint64_t seed, uint64_t epoch) {
  return draw_key(seed, kTrainingMaskKeys, epoch);
}

uint64_t mlm_validation_key(uint64_t seed) {
  return draw_key(seed, kValidationMaskKeys, 0);
}

MlmMasker::MlmMasker(const Tokenizer& tokenizer, const MlmOptions& o)
    : mask_id_(tokenizer.mask()),
      pad_(tokenizer.pad()),
      vocab_size_(static_cast<uint64_t>(tokenizer.vocab_size())),
      select_below_(threshold(o.mlm_probability)),
      mask_below_(threshold(o.mask_replace_prob)),
      mask_or_random_below_(threshold(o.mask_replace_prob + o.random_replace_prob)) {
  STRAND_CHECK(mask_id_ >= 0, "masked-LM training needs a tokenizer with a mask token; '{}' has none",
               tokenizer.name());
  const auto is_probability = [](double p) { return p >= 0.0 && p <= 1.0; };
  STRAND_CHECK(is_probability(o.mlm_probability), "mlm_probability {} is not in [0, 1]", o.mlm_probability);
  STRAND_CHECK(is_probability(o.mask_replace_prob) && is_probability(o.random_replace_prob) &&
                   o.mask_replace_prob + o.random_replace_prob <= 1.0,
               "mask_replace_prob {} and random_replace_prob {} must be probabilities summing to at most 1",
               o.mask_replace_prob, o.random_replace_prob);
  selectable_.resize(vocab_size_);
  for (uint64_t id = 0; id < vocab_size_; ++id)
    selectable_[id] = !tokenizer.is_special(static_cast<int32_t>(id));
}

void MlmMasker::mask(std::span<int32_t> tokens, std::span<int32_t> labels, const MaskDraws& d) const {
  STRAND_CHECK(labels.size() == tokens.size(), "{} labels for {} tokens", labels.size(), tokens.size());
  for (size_t t = 0; t < tokens.size(); ++t) {
    const int32_t id = tokens[t];
    STRAND_CHECK(id >= 0 && static_cast<uint64_t>(id) < vocab_size_,
                 "token {} outside the vocabulary [0, {})", id, vocab_size_);
    labels[t] = kIgnoreIndex;
    if (!selectable_[static_cast<size_t>(id)] || philox_bits(d.key, d.stream, 4 * t) >= select_below_)
      continue;
    labels[t] = id;
    const uint32_t which = philox_bits(d.key, d.stream, 4 * t + 1);
    if (which < mask_below_) {
      tokens[t] = mask_id_;
    } else if (which < mask_or_random_below_) {
      tokens[t] = static_cast<int32_t>(philox_bits(d.key, d.stream, 4 * t + 2) % vocab_size_);
    }
  }
}

}  // namespace strand::data
