#include "strand/ops/adamw.h"

#include "strand/ops/cpu/cpu_ops.h"
#include "strand/ops/dispatch.h"
#include "strand/ops/work_profile.h"

#include <cmath>

#if defined(STRAND_WITH_CUDA)
#include "strand/cuda/runtime.h"
#include "strand/ops/cuda/multi_tensor.h"
#endif

namespace strand {

void adamw_step(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v,
                const AdamWOptions& options, int64_t step) {
  const char* op = "adamw_step";
  const Device device = ops_detail::common_device(op, {{"param", param}, {"grad", grad}, {"m", m}, {"v", v}});
  const WorkScope scope(WorkKind::optimizer, device, op, shape_of(param));
  STRAND_CHECK(param.defined() && param.is_contiguous(), "param must be a defined contiguous tensor");
  if (device.type == DeviceType::CPU) {
    check_tensor(param, "param", param.shape());
  } else {
    check_tensor(param, "param", DType::F32, param.shape());  // fp32 master weights
  }
  check_tensor(grad, "grad", param.dtype(), param.shape());
  check_tensor(m, "m", param.dtype(), param.shape());
  check_tensor(v, "v", param.dtype(), param.shape());
  STRAND_CHECK(step >= 1, "AdamW step counts from 1, got {}", step);
  STRAND_CHECK(options.lr >= 0 && options.eps >= 0 && options.weight_decay >= 0,
               "AdamW lr, eps and weight_decay must be >= 0");
  STRAND_CHECK(options.beta1 >= 0 && options.beta1 < 1 && options.beta2 >= 0 && options.beta2 < 1,
               "AdamW betas must lie in [0, 1), got ({}, {})", options.beta1, options.beta2);
  if (device.type == DeviceType::CPU) {
    cpu::adamw_step(param, grad, m, v, options, step);
    return;
  }
#if defined(STRAND_WITH_CUDA)
  cuda::OptimizerTensor t;
  t.param = param.data<float>();
  t.grad = grad.data<float>();
  t.exp_avg = m.data<float>();
  t.exp_avg_sq = v.data<float>();
  t.n = param.numel();
  t.weight_decay = static_cast<float>(options.weight_decay);
  cuda::MultiTensorPlan plan({t}, DType::F32);
  const auto s = static_cast<double>(step);
  plan.adamw(static_cast<float>(options.lr), static_cast<float>(options.beta1),
             static_cast<float>(options.beta2), static_cast<float>(options.eps),
             static_cast<float>(1.0 - std::pow(options.beta1, s)),
             static_cast<float>(1.0 - std::pow(options.beta2, s)), nullptr, cuda::stream());
  cuda::synchronize(op);  // the plan's table is freed on return
#else
  ops_detail::no_cuda(op);
#endif
}

}  // namespace strand
