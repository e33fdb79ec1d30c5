// What every language model offers the trainer, the scorers and the exporters: logits over a packed batch,
// their backward, and its parameters. Causal decoders (causal_lm.h) add incremental decoding; encoders
// (ESM-2) are trained on masked tokens through the same interface.
#pragma once

#include "strand/core/arena.h"
#include "strand/nn/parameter.h"
#include "strand/ops/loss.h"
#include "strand/ops/packed.h"

#include <cstdint>
#include <vector>

namespace strand {

// A packed batch with a target per token: for next-token prediction labels[t] = tokens[t+1] inside each
// sequence and kIgnoreIndex at each sequence's last token; for masked-token prediction labels hold the
// original token at the masked positions and kIgnoreIndex elsewhere.
struct LMBatch {
  Tensor tokens;        // I32 [T]
  Tensor labels;        // I32 [T]
  Tensor loss_weights;  // [T] in the model's dtype, or undefined (all ones)
  SeqLayout layout;

  // Next-token labels for each sequence.
  static LMBatch from_sequences(const std::vector<std::vector<int32_t>>& sequences);
  // Checks every token, and every label but kIgnoreIndex, against the vocabulary [0, vocab_size) of a host
  // batch: device kernels trust their indices.
  void check_ids(int64_t vocab_size) const;
  // A copy on `device`, loss weights as `weight_dtype` (the statistics dtype of the model's activations).
  // Checks the ids first (check_ids).
  LMBatch to(Device device, DType weight_dtype, int64_t vocab_size) const;
  // From packed tokens and cu_seqlens (I32 or I64 on input), next-token labels inside each sequence.
  static LMBatch from_packed(const Tensor& tokens, const Tensor& cu_seqlens);
};

class LanguageModel {
 public:
  virtual ~LanguageModel() = default;

  // "llama", "esm2": the recipe's model.arch.
  virtual const char* arch() const = 0;
  // tokens [T] I32 -> logits [T, V] in the arena. Saves activations for backward until the arena is reset.
  virtual Tensor forward(Arena& arena, const Tensor& tokens, const SeqLayout& layout) = 0;
  // dlogits [T, V] of the last forward -> accumulates every parameter's gradient.
  virtual void backward(Arena& arena, const Tensor& dlogits) = 0;
  // Every trainable parameter, each once (a tied weight appears under its owner's name only).
  virtual nn::ParameterList parameters() = 0;
  virtual int64_t vocab_size() const = 0;
  virtual DType dtype() const = 0;  // of activations and logits
  virtual Device device() const = 0;
  // The longest sequence the model's positions cover (max_position_embeddings); 0 when unbounded.
  virtual int64_t max_positions() const { return 0; }

  // transformers' initialisation scheme, parameter i drawing from Philox stream i of `seed`.
  virtual void init(uint64_t seed) = 0;
  // Activation recompute: the first `layers` blocks keep only their input in the forward pass and run their
  // forward again in the backward pass. 0 keeps everything; more than the model has means all.
  virtual void set_recompute_layers(int64_t layers) = 0;
  // The representation of every token after `layer` blocks, in [0, num_layers]: 0 is the input embedding,
  // num_layers the output of the final norm (fair-esm's repr_layers and transformers' hidden_states number
  // them so). [T, hidden] in the arena, for inference: nothing is saved for a backward.
  virtual Tensor representations(Arena& arena, const Tensor& tokens, const SeqLayout& layout,
                                 int64_t layer) = 0;
  virtual int64_t num_layers() const = 0;
  virtual int64_t hidden_size() const = 0;
  // Model FLOPs of one training step (forward and backward) on sequences of these lengths: 6 x matmul
  // parameters (LM head included, input embedding excluded) per token, plus attention (DESIGN.md).
  virtual double training_flops(const std::vector<int64_t>& sequence_lengths) const = 0;
};

struct LossResult {
  LossSums sums;
  Tensor logits;  // [T, V], valid until the arena is reset
  double mean_loss() const { return sums.weight_sum > 0 ? sums.loss_sum / sums.weight_sum : 0.0; }
};

// Forward plus cross-entropy over the labelled tokens. If grad_normaliser > 0, also runs the backward of
// loss_sum / grad_normaliser (pass the weight sum of the whole global batch when accumulating micro-batches).
// The batch must be on the model's device.
LossResult lm_loss(LanguageModel& model, Arena& arena, const LMBatch& batch, double grad_normaliser = 0.0);

// The same, adding the loss sums to `sums` (F64 [3] on the model's device: loss_sum, weight_sum, tokens)
// instead of reading them back, so a GPU step runs without synchronising. Returns the logits.
Tensor lm_loss_accumulate(LanguageModel& model, Arena& arena, const LMBatch& batch, double grad_normaliser,
                          const Tensor& sums);

}  // namespace strand
