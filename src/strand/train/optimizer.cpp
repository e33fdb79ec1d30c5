#include "strand/train/optimizer.h"

#include "strand/ops/work_profile.h"

#include <exception>

namespace strand {

AdamW::AdamW(const nn::ParameterList& params, const AdamWSettings& settings)
    : params_(params), settings_(settings) {
  const Device device = params.empty() ? Device::cpu() : params.front()->value.device();
  std::vector<AdamWTensors> tensors;
  for (const nn::Parameter* p : params) {
    STRAND_CHECK(p->value.device() == device, "AdamW: {} is on {} but {} is on {}", p->name,
                 p->value.device().str(), params.front()->name, device.str());
    STRAND_CHECK(device.type == DeviceType::CPU || p->value.dtype() == DType::F32,
                 "AdamW on CUDA needs F32 master weights; {} is {}", p->name, p->value.str());
    exp_avg_.push_back(Tensor::zeros(p->value.shape(), p->value.dtype(), device));
    exp_avg_sq_.push_back(Tensor::zeros(p->value.shape(), p->value.dtype(), device));
    tensors.push_back(
        {p->value, p->grad, exp_avg_.back(), exp_avg_sq_.back(), p->compute, weight_decay_of(*p)});
  }
  group_ = std::make_unique<AdamWGroup>(std::move(tensors));
  const bool cpu = device.type == DeviceType::CPU;
  // The CPU derives the clip factor in F64 from an F64 norm and rounds it once to the gradients' dtype.
  const DType master = params.empty() ? DType::F32 : params.front()->value.dtype();
  sum_of_squares_ = Tensor::zeros({1}, DType::F64, device);
  norm_ = Tensor::zeros({1}, cpu ? DType::F64 : DType::F32, device);
  clip_factor_ = Tensor::zeros({1}, cpu ? master : DType::F32, device);
}

AdamW::~AdamW() {
  // Gradients still pending zero become zeros, as zero_grads promised.
  try {
    nn::flush_pending_zero_grads(params_);
  } catch (const std::exception&) {
    // A destructor must not throw: a failed launch surfaces at the next CUDA call.
  }
}

double AdamW::weight_decay_of(const nn::Parameter& p) const {
  return p.decay && (settings_.decay_embeddings || !p.embedding) ? settings_.weight_decay : 0.0;
}

void AdamW::step(double lr, int64_t step) {
  if (params_.empty()) return;
  const WorkScope scope(WorkKind::optimizer, group_->device(), "adamw");

  // 1. The gradients are final: every backward pass of the step has written them. Those still pending zero
  //    received no gradient this step and are zeroed now. A data-parallel optimizer all-reduces the
  //    gradients here (a sharded one reduce-scatters them, each rank keeping the slices it updates).
  nn::flush_pending_zero_grads(params_);

  // 2. The norm's partial: the sum of squares of the gradients this optimizer holds. Where ranks hold
  //    disjoint parts of the gradients (after a reduce-scatter), the partials are all-reduced here, between
  //    the sum and the root, so every rank clips by the same global norm.
  grad_sum_of_squares(sum_of_squares_, *group_);
  grad_norm(norm_, sum_of_squares_);

  // 3. Clip: the factor is computed on the device and scales the gradients as the update reads them, so
  //    nothing waits for the norm. Without clipping it is 1, or NaN when the norm is not finite, which
  //    skips the update on the device (the trainer reads the norm back and reports the skip).
  clip_factor(clip_factor_, norm_, settings_.clip_grad);

  // 4. Update every parameter and its moments. A ZeRO-1 shard builds its group over the slices it owns,
  //    updates only those, and all-gathers the parameters after.
  AdamWOptions o;
  o.lr = lr;
  o.beta1 = settings_.beta1;
  o.beta2 = settings_.beta2;
  o.eps = settings_.eps;
  adamw_step(*group_, o, step, clip_factor_);

  // 5. The compute copies: the update pass has already rewritten them from the new values (one read of each
  //    parameter). Quantised copies that carry scales (FP8) refresh their scales here.
}

void AdamW::zero_grads() {
  nn::defer_zero_grads(params_);
}

double AdamW::last_grad_norm() const {
  return norm_.to(Device::cpu()).item(0);
}

}  // namespace strand
