// What every language model offers the trainer, the scorers and the exporters: logits over a packed batch,
// their backward, and its parameters. Causal decoders (causal_lm.h) add incremental decoding; encoders
// (ESM-2) are trained on masked tokens through the same interface.
#pragma once

#include "strand/core/arena.h"
#include "strand/nn/parameter.h"
#include "strand/ops/lm_batch.h"
#include "strand/ops/loss.h"
#include "strand/ops/packed.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace strand {

// A named tensor a model carries that nothing trains or computes with (ESM-2's contact head): kept so that a
// checkpoint survives a round trip. Loaders replace *value, exporters write it.
struct ModelBuffer {
  std::string name;
  Tensor* value;  // an F32 host tensor owned by the model
};

// Called from a model's backward with parameters whose gradients that backward has finished, in the order
// they finish (the last block first); every parameter is reported exactly once per backward.
using GradientsReady = std::function<void(const nn::ParameterList&)>;

class LanguageModel {
 public:
  virtual ~LanguageModel() = default;

  // "llama", "esm2": the recipe's model.arch.
  virtual const char* arch() const = 0;
  // tokens [T] I32 -> logits [T, V] in the arena. Saves activations for backward until the arena is reset.
  virtual Tensor forward(Arena& arena, const Tensor& tokens, const SeqLayout& layout) = 0;
  // dlogits [T, V] of the last forward -> accumulates every parameter's gradient, reporting them to the
  // gradients-ready hook (set_gradients_ready) as they finish.
  virtual void backward(Arena& arena, const Tensor& dlogits) = 0;
  // The hook later backward passes report finished gradients to (a data-parallel trainer starts reducing
  // them there); an empty function reports to nobody.
  void set_gradients_ready(GradientsReady hook) { gradients_ready_ = std::move(hook); }
  // Every trainable parameter, each once (a tied weight appears under its owner's name only).
  virtual nn::ParameterList parameters() = 0;
  // Its buffers; none by default.
  virtual std::vector<ModelBuffer> buffers() { return {}; }
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

 protected:
  // For backward(): reports `params` to the hook, if one is set.
  void report_gradients(const nn::ParameterList& params) const {
    if (gradients_ready_) gradients_ready_(params);
  }
  const GradientsReady& gradients_ready_hook() const { return gradients_ready_; }

 private:
  GradientsReady gradients_ready_;
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
