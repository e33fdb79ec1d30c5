// AdamW over a model's parameters with global-norm gradient clipping, on the parameters' device, through the
// multi-tensor optimizer ops (ops/optimizer.h): on CUDA the norm, the clip factor and the update of every
// tensor run in a few fused launches and the clip factor never leaves the GPU; the norm is read back only
// when asked for.
#pragma once

#include "strand/nn/parameter.h"
#include "strand/ops/optimizer.h"

#include <memory>
#include <vector>

namespace strand {

struct AdamWSettings {
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double weight_decay = 0.1;
  bool decay_embeddings = true;
  double clip_grad = 1.0;  // global L2 norm; 0 turns clipping off
};

class AdamW {
 public:
  // REQUIRES: the parameters outlive the optimizer, and their memory stays where it is.
  AdamW(const nn::ParameterList& params, const AdamWSettings& settings);
  ~AdamW();
  AdamW(const AdamW&) = delete;
  AdamW& operator=(const AdamW&) = delete;

  // Clips the gradients to settings.clip_grad by their global norm, then updates every parameter (step counts
  // from 1) and its compute copy. When the norm is not finite (NaN or inf) nothing is updated: the step is
  // skipped on the device, and last_grad_norm() tells the caller. The phases are spelled out in the
  // implementation.
  void step(double lr, int64_t step);
  // Sets every gradient to zero before a step's backward passes accumulate into them. The zeroing is
  // deferred (nn/parameter.h, Note [Pending zero]): the first backward write to a gradient assigns it, and
  // step zeroes what no backward pass wrote (and so does the destructor); until then a direct read of a
  // gradient needs nn::flush_pending_zero_grads.
  void zero_grads();
  // The global gradient norm before clipping, of the last step (synchronises on CUDA).
  double last_grad_norm() const;

  // The moments, in parameter order, for checkpoints: F32 like the master weights, on their device.
  const std::vector<Tensor>& exp_avg() const { return exp_avg_; }
  const std::vector<Tensor>& exp_avg_sq() const { return exp_avg_sq_; }

 private:
  double weight_decay_of(const nn::Parameter& p) const;

  nn::ParameterList params_;
  AdamWSettings settings_;
  std::vector<Tensor> exp_avg_, exp_avg_sq_;
  std::unique_ptr<AdamWGroup> group_;
  // [1] each, on the parameters' device: the sum of squares (F64), the norm (F64 on the CPU, F32 on CUDA) and
  // the clip factor (the master dtype on the CPU, F32 on CUDA).
  Tensor sum_of_squares_, norm_, clip_factor_;
};

}  // namespace strand
