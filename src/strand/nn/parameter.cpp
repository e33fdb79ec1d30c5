#include "strand/nn/parameter.h"

#include "strand/core/device_memory.h"
#include "strand/core/philox.h"
#include "strand/ops/elementwise.h"

#include <algorithm>

namespace strand::nn {

Placement Placement::cuda(DType compute_dtype) {
  Placement p(DType::F32);
  p.device = current_cuda_device();
  p.compute = compute_dtype;
  return p;
}

Parameter::Parameter(std::string parameter_name, const Shape& shape, const Placement& placement,
                     bool weight_decay)
    : name(std::move(parameter_name)),
      value(Tensor::empty(shape, placement.master, placement.device)),
      grad(Tensor::zeros(shape, placement.master, placement.device)),
      decay(weight_decay) {
  if (placement.has_compute_copy()) compute = Tensor::empty(shape, placement.compute, placement.device);
}

Parameter::Parameter(std::string parameter_name, Tensor value_view, Tensor grad_view, Tensor compute_view,
                     bool weight_decay)
    : name(std::move(parameter_name)),
      value(std::move(value_view)),
      grad(std::move(grad_view)),
      compute(std::move(compute_view)),
      decay(weight_decay) {
  STRAND_CHECK(value.shape() == grad.shape() && (!compute.defined() || compute.shape() == value.shape()),
               "parameter {}: value {}, grad {} and compute copy {} differ in shape", name, value.str(),
               grad.str(), compute.defined() ? compute.str() : "(none)");
}

void assign(Parameter& p, const Tensor& src) {
  STRAND_CHECK(src.shape() == p.value.shape(), "parameter {}: cannot assign {} to shape {}", p.name,
               src.str(), p.value.shape().str());
  const Tensor host = src.is_cpu() ? src : src.to(Device::cpu());
  p.value.copy_from(host.dtype() == p.value.dtype() ? host : host.to(p.value.dtype()));
  refresh_compute({&p});
}

void init_normal(Parameter& p, uint64_t seed, uint64_t stream, double std) {
  Tensor draw = Tensor::empty(p.value.shape(), DType::F64);
  double* d = draw.data<double>();
  const int64_t n = draw.numel();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) d[i] = std * philox_normal(seed, stream, static_cast<uint64_t>(i));
  assign(p, draw);
}

void init_constant(Parameter& p, double value) {
  Tensor host = Tensor::empty(p.value.shape(), p.value.dtype());
  host.fill(value);
  assign(p, host);
}

void refresh_compute(const ParameterList& params) {
  for (Parameter* p : params)
    if (p->compute.defined()) convert(p->compute, p->value);
}

void zero_grads(const ParameterList& params) {
  for (Parameter* p : params) {
    zero(p->grad);
    p->grad_pending_zero = false;
  }
}

void defer_zero_grads(const ParameterList& params) {
  for (Parameter* p : params) p->grad_pending_zero = true;
}

GradWrite claim_grad(Parameter& p) {
  if (!p.grad_pending_zero) return GradWrite::accumulate;
  p.grad_pending_zero = false;
  return GradWrite::assign;
}

GradWrite claim_grads(const std::vector<Parameter*>& parts) {
  if (std::all_of(parts.begin(), parts.end(), [](const Parameter* p) { return p->grad_pending_zero; })) {
    for (Parameter* p : parts) p->grad_pending_zero = false;
    return GradWrite::assign;
  }
  flush_pending_zero_grads(parts);
  return GradWrite::accumulate;
}

void flush_pending_zero_grads(const ParameterList& params) {
  for (Parameter* p : params) {
    if (!p->grad_pending_zero) continue;
    zero(p->grad);
    p->grad_pending_zero = false;
  }
}

}  // namespace strand::nn
