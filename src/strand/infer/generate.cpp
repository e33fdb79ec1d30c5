#include "strand/infer/generate.h"

#include "strand/core/arena.h"
#include "strand/core/json.h"
#include "strand/core/philox.h"
#include "strand/infer/sequence_alphabet.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>
#include <utility>

namespace strand::infer {
namespace {

// A uniform double in (0, 1) with 53 random bits: elements 2s (top 27 bits) and 2s+1 (top 26 bits) of
// Philox stream `stream`.
double uniform53(uint64_t seed, uint64_t stream, uint64_t step) {
  const uint64_t hi = philox_bits(seed, stream, 2 * step) >> 5;
  const uint64_t lo = philox_bits(seed, stream, 2 * step + 1) >> 6;
  return (static_cast<double>((hi << 26) | lo) + 0.5) * 0x1p-53;
}

// The logits row as doubles, with banned ids at -inf. Every other logit must be finite.
std::vector<double> masked_logits(const Tensor& logits, const std::vector<int32_t>& banned) {
  STRAND_CHECK(logits.is_cpu() && logits.rank() == 1 && logits.is_contiguous() &&
                   (logits.dtype() == DType::F32 || logits.dtype() == DType::F64),
               "sampling: logits must be a contiguous F32/F64 host vector, got {}", logits.str());
  const int64_t vocab = logits.numel();
  std::vector<double> x(static_cast<size_t>(vocab));
  for (int64_t i = 0; i < vocab; ++i) x[static_cast<size_t>(i)] = logits.item(i);
  for (const int32_t id : banned)
    if (id >= 0 && id < vocab) x[static_cast<size_t>(id)] = -INFINITY;
  bool any = false;
  for (int64_t i = 0; i < vocab; ++i) {
    const double v = x[static_cast<size_t>(i)];
    STRAND_CHECK(std::isfinite(v) || v == -INFINITY, "sampling: the logit of token {} is {}", i, v);
    any = any || std::isfinite(v);
  }
  STRAND_CHECK(any, "sampling: every one of the {} tokens is banned", vocab);
  return x;
}

// A host tensor's copy in the arena, on the arena's device.
Tensor to_arena(Arena& arena, const Tensor& host) {
  Tensor t = Tensor::from_arena(arena, host.shape(), host.dtype());
  t.copy_from(host);
  return t;
}

// The last row of each of `batch` equal blocks of logits rows ([batch * t, V] on the model's device), as
// F32 or F64 rows [batch, V] on the host for the sampler.
Tensor last_rows_on_host(const Tensor& logits, int64_t batch) {
  const int64_t t = logits.size(0) / batch;
  Tensor rows = Tensor::empty({batch, logits.size(1)}, logits.dtype());
  if (t == 1) {
    rows.copy_from(logits);
  } else {
    for (int64_t b = 0; b < batch; ++b) rows.narrow(0, b, 1).copy_from(logits.narrow(0, b * t + t - 1, 1));
  }
  return rows.dtype() == DType::F32 || rows.dtype() == DType::F64 ? rows : rows.to(DType::F32);
}

// Every prompt character is a letter of the tokenizer's sequence alphabet, which is then not empty.
void check_prompt_alphabet(const data::Tokenizer& tokenizer, std::string_view prompt) {
  const SequenceAlphabet alphabet = sequence_alphabet(tokenizer);
  STRAND_CHECK(
      !alphabet.letters.empty(),
      "tokenizer '{}' has no sequence alphabet to sample from; any_token samples its whole vocabulary",
      tokenizer.name());
  for (size_t i = 0; i < prompt.size(); ++i)
    STRAND_CHECK(
        alphabet.contains(prompt[i]),
        "prompt character {} '{}' is not in the {} alphabet of tokenizer '{}' ({}); any_token allows "
        "every character of its vocabulary",
        i + 1, printable(std::string(1, prompt[i])), sequence_kind_name(alphabet.kind), tokenizer.name(),
        alphabet.letters);
}

}  // namespace

void SamplingOptions::validate() const {
  STRAND_CHECK(std::isfinite(temperature) && temperature >= 0.0,
               "temperature must be finite and >= 0 (0 is greedy), got {}", temperature);
  STRAND_CHECK(top_k >= 0, "top_k must be >= 0 (0 keeps every token), got {}", top_k);
  STRAND_CHECK(top_p > 0.0 && top_p <= 1.0, "top_p must be in (0, 1] (1 keeps every token), got {}", top_p);
}

Sampler::Sampler(const SamplingOptions& options, std::vector<int32_t> banned)
    : options_(options), banned_(std::move(banned)) {
  options_.validate();
}

int32_t Sampler::sample(const Tensor& logits, uint64_t step, uint64_t stream) const {
  const std::vector<double> x = masked_logits(logits, banned_);
  // Most likely first; equal logits by increasing id, so greedy, top_k = 1 and a tiny top_p agree.
  const auto before = [&x](int32_t a, int32_t b) {
    const double xa = x[static_cast<size_t>(a)], xb = x[static_cast<size_t>(b)];
    return xa > xb || (xa == xb && a < b);
  };
  if (options_.temperature == 0.0) {
    int32_t best = 0;
    for (int32_t i = 1; i < static_cast<int32_t>(x.size()); ++i)
      if (before(i, best)) best = i;
    return best;
  }

  std::vector<int32_t> order;  // candidates: every id that is not banned
  order.reserve(x.size());
  for (int32_t i = 0; i < static_cast<int32_t>(x.size()); ++i)
    if (std::isfinite(x[static_cast<size_t>(i)])) order.push_back(i);
  size_t kept = order.size();
  if (options_.top_k > 0 && static_cast<size_t>(options_.top_k) < kept) {
    kept = static_cast<size_t>(options_.top_k);
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(kept), order.end(), before);
  } else {
    std::sort(order.begin(), order.end(), before);
  }

  // Unnormalised probabilities exp((x - max) / temperature) of the kept tokens, most likely first.
  const double top = x[static_cast<size_t>(order[0])];
  std::vector<double> e(kept);
  for (size_t i = 0; i < kept; ++i)
    e[i] = std::exp((x[static_cast<size_t>(order[i])] - top) / options_.temperature);
  if (options_.top_p < 1.0) {
    const double z = std::accumulate(e.begin(), e.end(), 0.0);
    double cumulative = 0;
    for (size_t i = 0; i < kept; ++i) {
      cumulative += e[i] / z;
      if (cumulative >= options_.top_p) {
        kept = i + 1;
        break;
      }
    }
  }

  double total = 0;
  for (size_t i = 0; i < kept; ++i) total += e[i];
  const double target = uniform53(options_.seed, stream, step) * total;
  double cumulative = 0;
  for (size_t i = 0; i < kept; ++i) {
    cumulative += e[i];
    if (target < cumulative) return order[i];
  }
  return order[kept - 1];  // target within rounding of the total
}

std::vector<GenerateResult> generate_tokens(CausalLM& model, std::span<const int32_t> prompt, int32_t eos,
                                            const std::vector<int32_t>& banned,
                                            const GenerateOptions& options) {
  STRAND_CHECK(options.max_new_tokens >= 0, "max_new_tokens must be >= 0, got {}", options.max_new_tokens);
  STRAND_CHECK(options.num_samples >= 1, "num_samples must be >= 1, got {}", options.num_samples);
  STRAND_CHECK(!prompt.empty(), "generation needs at least one prompt token");
  const Sampler sampler(options.sampling, banned);
  const int64_t vocab = model.vocab_size();
  for (size_t i = 0; i < prompt.size(); ++i)
    STRAND_CHECK(prompt[i] >= 0 && prompt[i] < vocab, "prompt token {} is {}, outside the vocabulary [0, {})",
                 i, prompt[i], vocab);
  const int64_t prompt_len = static_cast<int64_t>(prompt.size());
  const int64_t total = prompt_len + options.max_new_tokens;
  const int64_t limit = model.max_positions();
  STRAND_CHECK(
      limit <= 0 || total <= limit,
      "the prompt ({} tokens) plus max_new_tokens ({}) makes {} tokens, more than the model's {} positions "
      "(max_position_embeddings)",
      prompt_len, options.max_new_tokens, total, limit);

  const int64_t samples = options.num_samples;
  std::vector<GenerateResult> results(static_cast<size_t>(samples));
  for (GenerateResult& r : results) r.prompt_tokens.assign(prompt.begin(), prompt.end());
  if (options.max_new_tokens == 0) return results;

  Arena arena(size_t{1} << 20, model.device());
  const std::unique_ptr<DecodeState> state = model.new_decode_state(samples, total);
  // Every sample's copy of the prompt goes through the prefill, so each sample's state is its own from the
  // first step on.
  Tensor tokens = Tensor::empty({samples * prompt_len}, DType::I32);
  for (int64_t b = 0; b < samples; ++b)
    std::copy(prompt.begin(), prompt.end(), tokens.data<int32_t>() + b * prompt_len);
  Tensor logits = model.forward_decode(arena, to_arena(arena, tokens), *state);  // [samples * prompt_len, V]
  Tensor next = Tensor::empty({samples}, DType::I32);
  int64_t running = samples;
  for (int64_t step = 0;; ++step) {
    const Tensor last = last_rows_on_host(logits, samples);  // [samples, V]
    for (int64_t b = 0; b < samples; ++b) {
      GenerateResult& r = results[static_cast<size_t>(b)];
      // A sample that has stopped keeps feeding its EOS; what the model makes of it is not read.
      if (r.stopped_at_eos) continue;
      const int32_t id = sampler.sample(last.narrow(0, b, 1).view({vocab}), static_cast<uint64_t>(step),
                                        static_cast<uint64_t>(b));
      r.new_tokens.push_back(id);
      next.data<int32_t>()[b] = id;
      if (id == eos) {
        r.stopped_at_eos = true;
        --running;
      }
    }
    if (running == 0 || step + 1 == options.max_new_tokens) break;
    arena.reset();
    logits = model.forward_decode(arena, to_arena(arena, next), *state);  // [samples, V]
  }
  return results;
}

std::vector<int32_t> banned_tokens(const data::Tokenizer& tokenizer, int64_t model_vocab, bool any_token) {
  const SequenceAlphabet alphabet = sequence_alphabet(tokenizer);
  std::vector<int32_t> banned;
  for (int64_t i = 0; i < model_vocab; ++i) {
    const int32_t id = static_cast<int32_t>(i);
    if (id == tokenizer.eos()) continue;
    const bool allowed =
        any_token ? i < tokenizer.vocab_size() && !tokenizer.decode(std::span<const int32_t>(&id, 1)).empty()
                  : std::find(alphabet.ids.begin(), alphabet.ids.end(), id) != alphabet.ids.end();
    if (!allowed) banned.push_back(id);
  }
  return banned;
}

std::vector<GenerateResult> generate(CausalLM& model, const data::Tokenizer& tokenizer,
                                     std::string_view prompt, const GenerateOptions& options) {
  STRAND_CHECK(tokenizer.vocab_size() <= model.vocab_size(),
               "tokenizer {} has {} ids, more than the model's vocabulary of {}", tokenizer.name(),
               tokenizer.vocab_size(), model.vocab_size());
  if (!options.any_token) check_prompt_alphabet(tokenizer, prompt);
  std::vector<int32_t> tokens;
  if (tokenizer.bos() >= 0) tokens.push_back(tokenizer.bos());
  const uint64_t unknown = tokenizer.encode(prompt, tokens);
  STRAND_CHECK(unknown == 0, "the prompt has {} character{} outside the vocabulary of tokenizer '{}'",
               unknown, unknown == 1 ? "" : "s", tokenizer.name());
  STRAND_CHECK(!tokens.empty(), "the prompt is empty and tokenizer {} has no BOS token to start from",
               tokenizer.name());
  std::vector<GenerateResult> results =
      generate_tokens(model, tokens, tokenizer.eos(),
                      banned_tokens(tokenizer, model.vocab_size(), options.any_token), options);
  for (GenerateResult& r : results) {
    r.prompt_text = tokenizer.decode(r.prompt_tokens);
    r.text = tokenizer.decode(r.new_tokens);
  }
  return results;
}

}  // namespace strand::infer
