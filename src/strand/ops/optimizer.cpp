#include "strand/ops/optimizer.h"

#include "strand/ops/cpu/cpu_ops.h"
#include "strand/ops/dispatch.h"
#include "strand/ops/elementwise.h"
#include "strand/ops/work_profile.h"

#include <fmt/format.h>

#include <cmath>
#include <string>
#include <utility>

#if defined(STRAND_WITH_CUDA)
#include "strand/cuda/runtime.h"
#include "strand/ops/cuda/multi_tensor.h"
#endif

namespace strand {

#if defined(STRAND_WITH_CUDA)
struct AdamWGroup::Plan {
  Plan(const std::vector<cuda::OptimizerTensor>& tensors, DType compute_dtype)
      : kernels(tensors, compute_dtype) {}
  cuda::MultiTensorPlan kernels;
};
#else
struct AdamWGroup::Plan {};
#endif

struct AdamWGroupAccess {
  static const AdamWGroup::Plan& plan(const AdamWGroup& group) { return *group.plan_; }
};

namespace {

void check_on(const Tensor& t, const char* name, Device device) {
  STRAND_CHECK(t.defined(), "{} is undefined", name);
  STRAND_CHECK(t.device() == device, "{} is on {} but the optimizer's tensors are on {}", name,
               t.device().str(), device.str());
}

// The F64 sum of squares [1] on `device`.
void check_sum_of_squares(const Tensor& t, Device device) {
  check_on(t, "sum_of_squares", device);
  check_tensor(t, "sum_of_squares", DType::F64, {1});
}

// A norm or factor [1] on `device`: F32 or F64 on the CPU, F32 on CUDA.
void check_scalar(const Tensor& t, const char* name, Device device) {
  check_on(t, name, device);
  if (device.type == DeviceType::CPU) {
    check_tensor(t, name, {1});
  } else {
    check_tensor(t, name, DType::F32, {1});
  }
}

}  // namespace

AdamWGroup::AdamWGroup(std::vector<AdamWTensors> tensors) : tensors_(std::move(tensors)) {
  if (!tensors_.empty() && tensors_.front().value.defined()) device_ = tensors_.front().value.device();
  const bool cpu = device_.type == DeviceType::CPU;
  const DType master = tensors_.empty() ? DType::F32 : tensors_.front().value.dtype();
  DType compute_dtype = DType::F32;
  bool has_compute = false;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const AdamWTensors& t = tensors_[i];
    const std::string name = fmt::format("AdamWGroup: tensors[{}]", i);
    const std::string value = name + ".value", grad = name + ".grad", m = name + ".exp_avg",
                      v = name + ".exp_avg_sq", compute = name + ".compute";
    STRAND_CHECK(t.value.defined(), "{} is undefined", value);
    ops_detail::common_device(name.c_str(), {{"value", t.value},
                                             {"grad", t.grad},
                                             {"exp_avg", t.exp_avg},
                                             {"exp_avg_sq", t.exp_avg_sq},
                                             {"compute", t.compute}});
    STRAND_CHECK(t.value.device() == device_, "{} is on {} but tensors[0].value is on {}", value,
                 t.value.device().str(), device_.str());
    if (cpu) {
      check_tensor(t.value, value.c_str(), t.value.shape());
      STRAND_CHECK(t.value.dtype() == master, "{} is {} but tensors[0].value is {}", value, t.value.str(),
                   dtype_name(master));
    } else {
      check_tensor(t.value, value.c_str(), DType::F32, t.value.shape());  // F32 master weights
    }
    check_tensor(t.grad, grad.c_str(), master, t.value.shape());
    check_tensor(t.exp_avg, m.c_str(), master, t.value.shape());
    check_tensor(t.exp_avg_sq, v.c_str(), master, t.value.shape());
    STRAND_CHECK(t.weight_decay >= 0, "{}.weight_decay must be >= 0, got {}", name, t.weight_decay);
    if (!t.compute.defined()) continue;
    if (cpu) {
      check_tensor(t.compute, compute.c_str(), master, t.value.shape());
    } else {
      ops_detail::check_act(t.compute, compute.c_str(), t.value.shape());
      STRAND_CHECK(!has_compute || t.compute.dtype() == compute_dtype,
                   "{} is {} but an earlier compute copy is {}: one group has one compute dtype", compute,
                   t.compute.str(), dtype_name(compute_dtype));
    }
    has_compute = true;
    compute_dtype = t.compute.dtype();
  }
  if (cpu) return;
#if defined(STRAND_WITH_CUDA)
  std::vector<cuda::OptimizerTensor> table;
  table.reserve(tensors_.size());
  for (const AdamWTensors& t : tensors_) {
    cuda::OptimizerTensor e;
    e.param = t.value.data<float>();
    e.grad = t.grad.data<float>();
    e.exp_avg = t.exp_avg.data<float>();
    e.exp_avg_sq = t.exp_avg_sq.data<float>();
    e.compute = t.compute.defined() ? t.compute.raw() : nullptr;
    e.n = t.value.numel();
    e.weight_decay = static_cast<float>(t.weight_decay);
    table.push_back(e);
  }
  plan_ = std::make_unique<Plan>(table, compute_dtype);
#else
  ops_detail::no_cuda("AdamWGroup");
#endif
}

AdamWGroup::~AdamWGroup() = default;

void grad_sum_of_squares(const Tensor& sum_of_squares, const AdamWGroup& group) {
  const char* op = "grad_sum_of_squares";
  const WorkScope scope(WorkKind::optimizer, group.device(), op);
  check_sum_of_squares(sum_of_squares, group.device());
  if (group.device().type == DeviceType::CPU) {
    sum_of_squares.data<double>()[0] = cpu::grad_sum_of_squares(group.tensors());
    return;
  }
#if defined(STRAND_WITH_CUDA)
  AdamWGroupAccess::plan(group).kernels.grad_sum_of_squares(sum_of_squares.data<double>(), cuda::stream());
#else
  ops_detail::no_cuda(op);
#endif
}

void grad_norm(const Tensor& norm, const Tensor& sum_of_squares) {
  const char* op = "grad_norm";
  const Device device = ops_detail::common_device(op, {{"norm", norm}, {"sum_of_squares", sum_of_squares}});
  const WorkScope scope(WorkKind::optimizer, device, op);
  check_sum_of_squares(sum_of_squares, device);
  check_scalar(norm, "norm", device);
  if (device.type == DeviceType::CPU) {
    cpu::grad_norm(norm, sum_of_squares);
    return;
  }
#if defined(STRAND_WITH_CUDA)
  cuda::grad_norm(norm.data<float>(), sum_of_squares.data<double>(), cuda::stream());
#else
  ops_detail::no_cuda(op);
#endif
}

void clip_factor(const Tensor& factor, const Tensor& norm, double max_norm) {
  const char* op = "clip_factor";
  const Device device = ops_detail::common_device(op, {{"factor", factor}, {"norm", norm}});
  const WorkScope scope(WorkKind::optimizer, device, op);
  check_scalar(norm, "norm", device);
  check_scalar(factor, "factor", device);
  STRAND_CHECK(max_norm >= 0, "clip_factor: max_norm must be >= 0 (0: no clipping), got {}", max_norm);
  if (device.type == DeviceType::CPU) {
    cpu::clip_factor(factor, norm, max_norm);
    return;
  }
#if defined(STRAND_WITH_CUDA)
  cuda::clip_factor(factor.data<float>(), norm.data<float>(), static_cast<float>(max_norm), cuda::stream());
#else
  ops_detail::no_cuda(op);
#endif
}

void adamw_step(const AdamWGroup& group, const AdamWOptions& options, int64_t step,
                const Tensor& grad_scale) {
  const char* op = "adamw_step";
  const Device device = group.device();
  const WorkScope scope(WorkKind::optimizer, device, op);
  if (grad_scale.defined()) check_scalar(grad_scale, "grad_scale", device);
  STRAND_CHECK(step >= 1, "AdamW step counts from 1, got {}", step);
  STRAND_CHECK(options.lr >= 0 && options.eps >= 0, "AdamW lr and eps must be >= 0, got {} and {}",
               options.lr, options.eps);
  STRAND_CHECK(options.beta1 >= 0 && options.beta1 < 1 && options.beta2 >= 0 && options.beta2 < 1,
               "AdamW betas must lie in [0, 1), got ({}, {})", options.beta1, options.beta2);
  if (device.type == DeviceType::CPU) {
    cpu::adamw_step(group.tensors(), options, step, grad_scale);
    for (const AdamWTensors& t : group.tensors())
      if (t.compute.defined()) convert(t.compute, t.value);
    return;
  }
#if defined(STRAND_WITH_CUDA)
  // The scalars as F32, as the kernels take them; the bias corrections from F64 powers.
  const auto s = static_cast<double>(step);
  AdamWGroupAccess::plan(group).kernels.adamw(
      static_cast<float>(options.lr), static_cast<float>(options.beta1), static_cast<float>(options.beta2),
      static_cast<float>(options.eps), static_cast<float>(1.0 - std::pow(options.beta1, s)),
      static_cast<float>(1.0 - std::pow(options.beta2, s)),
      grad_scale.defined() ? grad_scale.data<float>() : nullptr, cuda::stream());
#else
  ops_detail::no_cuda(op);
#endif
}

}  // namespace strand
