// Autoregressive generation from a causal LM: the model makes a decode state (its KV caches and whatever else
// it keeps between steps) for num_samples copies of the prompt, which are decoded together as one batch: one
// prefill forward over the prompts, then one decode forward per new token. Logits are read back to the host,
// where each sample draws its next token.
//
// Sampling, per step (transformers' order): logits of banned tokens -> -inf; temperature 0 picks the argmax
// (the lowest id among equal maxima); otherwise logits / temperature, keep the top_k largest (ties broken by
// the lower id), softmax over what is kept, keep the smallest prefix (most likely first) whose probability
// reaches top_p, renormalise and draw. Draw s of sample i uses Philox stream i of `seed`, elements 2s and
// 2s+1 combined into one 53-bit uniform, so a seed fixes all the samples on every machine and thread count,
// and sample 0 is the generation a single sample with the same seed gives.
#pragma once

#include "strand/core/tensor.h"
#include "strand/data/tokenizer.h"
#include "strand/models/causal_lm.h"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace strand::infer {

struct SamplingOptions {
  double temperature = 1.0;  // >= 0; 0 is greedy (argmax), and top_k / top_p then do not matter
  int64_t top_k = 0;         // keep the k most likely tokens; 0 keeps all
  double top_p = 1.0;        // in (0, 1]: nucleus sampling; 1 keeps all
  uint64_t seed = 0;
  // Checks the ranges above, naming the offending field.
  void validate() const;
};

// Picks next tokens from logits rows. Stateless apart from the options and the banned set.
class Sampler {
 public:
  // banned: ids never picked (every id of the row may not be banned). REQUIRES: options valid.
  Sampler(const SamplingOptions& options, std::vector<int32_t> banned);
  // logits [V] (F32 or F64, host); `step` selects the random draw (0, 1, ... within one generation) and
  // `stream` the sample it is for (0, 1, ... among the samples of one prompt).
  int32_t sample(const Tensor& logits, uint64_t step, uint64_t stream = 0) const;

 private:
  SamplingOptions options_;
  std::vector<int32_t> banned_;
};

struct GenerateOptions {
  int64_t max_new_tokens = 100;  // >= 0
  int64_t num_samples = 1;       // >= 1: continuations of the prompt, decoded together as a batch
  SamplingOptions sampling;
  // generate(): sample every id that decodes to text, and let the prompt hold any character of the
  // vocabulary, instead of the tokenizer's sequence alphabet (sequence_alphabet.h) and EOS.
  bool any_token = false;
};

// One sample's continuation of the prompt.
struct GenerateResult {
  std::vector<int32_t>
      prompt_tokens;                // what conditioned the model: BOS (when the tokenizer has one) + prompt
  std::vector<int32_t> new_tokens;  // sampled, in order; ends with EOS when generation stopped there
  bool stopped_at_eos = false;
  std::string prompt_text;  // prompt_tokens decoded (the prompt as the tokenizer sees it)
  std::string text;         // new_tokens decoded (EOS and other special tokens skipped)
};

// Generates from token ids: the model conditions on `prompt` (non-empty), then up to max_new_tokens are
// sampled for each of num_samples samples, each stopping after `eos` (< 0: never); a sample that has stopped
// rides along in the batch until every sample has. The decode state holds prompt + max_new_tokens tokens per
// sample; that must not exceed model.max_positions() (when bounded). Returns one result per sample, with the
// token fields filled, not the text.
std::vector<GenerateResult> generate_tokens(CausalLM& model, std::span<const int32_t> prompt, int32_t eos,
                                            const std::vector<int32_t>& banned,
                                            const GenerateOptions& options);

// The ids (up to model_vocab) a generation with `tokenizer` never samples: all but EOS and the ids of the
// tokenizer's sequence alphabet (for DNA tokenizers A C G T N a c g t n, sequence_alphabet.h); with
// `any_token`, only those outside the tokenizer's vocabulary and those that decode to no text other than
// EOS (BOS, PAD, UNK, other special tokens, unused ids).
std::vector<int32_t> banned_tokens(const data::Tokenizer& tokenizer, int64_t model_vocab,
                                   bool any_token = false);

// Text in, text out: tokens = BOS + tokenizer(prompt) (no EOS), then generate_tokens with the tokenizer's EOS
// and banned_tokens(options.any_token). The tokenizer's vocabulary must fit the model's; every prompt
// character must be in the tokenizer's sequence alphabet (with any_token: in its vocabulary), else the error
// names the first that is not. One result per sample.
std::vector<GenerateResult> generate(CausalLM& model, const data::Tokenizer& tokenizer,
                                     std::string_view prompt, const GenerateOptions& options);

}  // namespace strand::infer
