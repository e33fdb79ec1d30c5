#include "strand/train/optimizer.h"

#include "strand/core/device_memory.h"
#include "strand/ops/adamw.h"
#include "strand/ops/deferred_zeros.h"
#include "strand/ops/work_profile.h"

#include <cmath>
#include <exception>

#if defined(STRAND_WITH_CUDA)
#include "strand/cuda/runtime.h"
#include "strand/ops/cuda/multi_tensor.h"
#endif

namespace strand {

#if defined(STRAND_WITH_CUDA)
struct AdamW::GpuState {
  std::unique_ptr<cuda::MultiTensorPlan> plan;
  Tensor norm_and_scale;  // F32 [2] on the GPU: the global norm and the clip factor
  Tensor norm_read_back;  // F32 [2] in pinned host memory, so reading the norm allocates nothing
};
#else
struct AdamW::GpuState {};
#endif

AdamW::AdamW(const nn::ParameterList& params, const AdamWSettings& settings)
    : params_(params), settings_(settings) {
  for (const nn::Parameter* p : params) {
    exp_avg_.push_back(Tensor::zeros(p->value.shape(), p->value.dtype(), p->value.device()));
    exp_avg_sq_.push_back(Tensor::zeros(p->value.shape(), p->value.dtype(), p->value.device()));
  }
  if (params.empty() || params.front()->value.is_cpu()) return;
#if defined(STRAND_WITH_CUDA)
  std::vector<cuda::OptimizerTensor> table;
  DType compute_dtype = DType::F32;
  for (size_t i = 0; i < params.size(); ++i) {
    nn::Parameter& p = *params[i];
    STRAND_CHECK(!p.value.is_cpu() && p.value.dtype() == DType::F32,
                 "AdamW on CUDA needs F32 master weights on the GPU; {} is {}", p.name, p.value.str());
    cuda::OptimizerTensor t;
    t.param = p.value.data<float>();
    t.grad = p.grad.data<float>();
    t.exp_avg = exp_avg_[i].data<float>();
    t.exp_avg_sq = exp_avg_sq_[i].data<float>();
    t.n = p.value.numel();
    t.weight_decay = static_cast<float>(weight_decay_of(p));
    if (p.compute.defined()) {
      STRAND_CHECK(compute_dtype == DType::F32 || compute_dtype == p.compute.dtype(),
                   "AdamW: compute copies of one model must share a dtype");
      compute_dtype = p.compute.dtype();
      t.compute = p.compute.raw();
    }
    table.push_back(t);
  }
  gpu_ = std::make_unique<GpuState>();
  gpu_->plan = std::make_unique<cuda::MultiTensorPlan>(table, compute_dtype);
  gpu_->norm_and_scale = Tensor::zeros({2}, DType::F32, params.front()->value.device());
  gpu_->norm_read_back = pinned_host_tensor({2}, DType::F32);
#endif
}

AdamW::~AdamW() {
  if (gpu_ == nullptr) return;
  // Gradients still pending zero become zeros, as zero_grads promised, and the pending set lets go of them
  // (it holds their memory).
  try {
    flush_deferred_zeros();
  } catch (const std::exception&) {
    // A destructor must not throw: a failed launch surfaces at the next CUDA call.
  }
}

double AdamW::weight_decay_of(const nn::Parameter& p) const {
  return p.decay && (settings_.decay_embeddings || !p.embedding) ? settings_.weight_decay : 0.0;
}

void AdamW::step(double lr, int64_t step) {
  if (params_.empty()) return;
  const WorkScope scope(WorkKind::optimizer, params_.front()->value.device(), "adamw");
  AdamWOptions o;
  o.lr = lr;
  o.beta1 = settings_.beta1;
  o.beta2 = settings_.beta2;
  o.eps = settings_.eps;
  if (gpu_ == nullptr) {
    double ss = 0;
    for (const nn::Parameter* p : params_) {
      const float* g = p->grad.data<float>();
      for (int64_t i = 0; i < p->grad.numel(); ++i) ss += static_cast<double>(g[i]) * g[i];
    }
    host_grad_norm_ = std::sqrt(ss);
    if (settings_.clip_grad > 0 && host_grad_norm_ > settings_.clip_grad) {
      const auto f = static_cast<float>(settings_.clip_grad / host_grad_norm_);
      for (const nn::Parameter* p : params_) {
        float* g = p->grad.data<float>();
        for (int64_t i = 0; i < p->grad.numel(); ++i) g[i] *= f;
      }
    }
    for (size_t i = 0; i < params_.size(); ++i) {
      o.weight_decay = weight_decay_of(*params_[i]);
      adamw_step(params_[i]->value, params_[i]->grad, exp_avg_[i], exp_avg_sq_[i], o, step);
    }
    return;
  }
#if defined(STRAND_WITH_CUDA)
  flush_deferred_zeros();
  float* norm = gpu_->norm_and_scale.data<float>();
  gpu_->plan->grad_norm(norm, norm + 1, static_cast<float>(settings_.clip_grad), cuda::stream());
  const auto s = static_cast<double>(step);
  gpu_->plan->adamw(static_cast<float>(lr), static_cast<float>(o.beta1), static_cast<float>(o.beta2),
                    static_cast<float>(o.eps), static_cast<float>(1.0 - std::pow(o.beta1, s)),
                    static_cast<float>(1.0 - std::pow(o.beta2, s)), norm + 1, cuda::stream());
#endif
}

void AdamW::zero_grads() {
  if (params_.empty()) return;
  const WorkScope scope(WorkKind::optimizer, params_.front()->value.device(), "zero_grads");
  if (gpu_ == nullptr) {
    nn::zero_grads(params_);
    return;
  }
#if defined(STRAND_WITH_CUDA)
  // Deferred: the backward passes overwrite the gradients they reach first (ops/deferred_zeros.h), and step
  // zeroes those they did not reach.
  for (const nn::Parameter* p : params_) defer_zero(p->grad);
#endif
}

double AdamW::last_grad_norm() const {
#if defined(STRAND_WITH_CUDA)
  if (gpu_ != nullptr) {
    gpu_->norm_read_back.copy_from(gpu_->norm_and_scale);
    return gpu_->norm_read_back.item(0);
  }
#endif
  return host_grad_norm_;
}

}  // namespace strand
