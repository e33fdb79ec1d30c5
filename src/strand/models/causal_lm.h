// What every causal (next-token) language model offers the trainer, the scorer and the exporters.
#pragma once

#include "strand/core/arena.h"
#include "strand/nn/parameter.h"
#include "strand/ops/loss.h"
#include "strand/ops/packed.h"

#include <cstdint>
#include <vector>

namespace strand {

namespace infer {
class KVCache;
}

// A packed batch for next-token prediction: labels[t] = tokens[t+1] inside each sequence, kIgnoreIndex at
// each sequence's last token (no prediction crosses a boundary).
struct LMBatch {
  Tensor tokens;        // I32 [T]
  Tensor labels;        // I32 [T]
  Tensor loss_weights;  // [T] in the model's dtype, or undefined (all ones)
  SeqLayout layout;

  static LMBatch from_sequences(const std::vector<std::vector<int32_t>>& sequences);
  // A copy on `device`, loss weights as `weight_dtype` (the statistics dtype of the model's activations).
  // Checks every token against the vocabulary first: device kernels trust their indices.
  LMBatch to(Device device, DType weight_dtype, int64_t vocab_size) const;
  // From packed tokens and cu_seqlens (I32 or I64 on input), labels shifted inside each sequence.
  static LMBatch from_packed(const Tensor& tokens, const Tensor& cu_seqlens);
};

class CausalLM {
 public:
  virtual ~CausalLM() = default;

  // tokens [T] I32 -> logits [T, V] in the arena. Saves activations for backward until the arena is reset.
  virtual Tensor forward(Arena& arena, const Tensor& tokens, const SeqLayout& layout) = 0;
  // dlogits [T, V] of the last forward -> accumulates every parameter's gradient.
  virtual void backward(Arena& arena, const Tensor& dlogits) = 0;
  // Every trainable parameter, each once (a tied weight appears under its owner's name only).
  virtual nn::ParameterList parameters() = 0;
  virtual int64_t vocab_size() const = 0;
  virtual DType dtype() const = 0;  // of activations and logits
  virtual Device device() const = 0;

  // Incremental decoding of ONE sequence (infer/kv_cache.h): tokens [t] I32 continue the sequence whose
  // first cache.length() tokens are cached -> logits [t, V] in the arena; appends the tokens to the cache.
  // Equals the last t rows of forward() over the whole sequence. Models without a cached path throw.
  virtual Tensor forward_cached(Arena& /*arena*/, const Tensor& /*tokens*/, infer::KVCache& /*cache*/) {
    throw Error("this model has no incremental (cached) forward");
  }
  // The longest sequence the model's positions cover (max_position_embeddings); 0 when unbounded.
  virtual int64_t max_positions() const { return 0; }
};

struct LossResult {
  LossSums sums;
  Tensor logits;  // [T, V], valid until the arena is reset
  double mean_loss() const { return sums.weight_sum > 0 ? sums.loss_sum / sums.weight_sum : 0.0; }
};

// Forward plus cross-entropy. If grad_normaliser > 0, also runs the backward of loss_sum / grad_normaliser
// (pass the weight sum of the whole global batch when accumulating micro-batches). The batch must be on the
// model's device.
LossResult lm_loss(CausalLM& model, Arena& arena, const LMBatch& batch, double grad_normaliser = 0.0);

// The same, adding the loss sums to `sums` (F64 [3] on the model's device: loss_sum, weight_sum, tokens)
// instead of reading them back, so a GPU step runs without synchronising. Returns the logits.
Tensor lm_loss_accumulate(CausalLM& model, Arena& arena, const LMBatch& batch, double grad_normaliser,
                          const Tensor& sums);

}  // namespace strand
