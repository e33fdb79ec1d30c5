#include "strand/nn/parameter.h"

#include "strand/core/philox.h"

namespace strand::nn {

Parameter::Parameter(std::string parameter_name, const Shape& shape, DType dtype, bool weight_decay)
    : name(std::move(parameter_name)),
      value(Tensor::empty(shape, dtype)),
      grad(Tensor::zeros(shape, dtype)),
      decay(weight_decay) {}

void init_normal(Parameter& p, uint64_t seed, uint64_t stream, double std) {
  Tensor draw = Tensor::empty(p.value.shape(), DType::F64);
  double* d = draw.data<double>();
  const int64_t n = draw.numel();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) d[i] = std * philox_normal(seed, stream, static_cast<uint64_t>(i));
  p.value.copy_from(draw);
}

void init_constant(Parameter& p, double value) {
  p.value.fill(value);
}

void zero_grads(const ParameterList& params) {
  for (Parameter* p : params) p->grad.fill(0.0);
}

}  // namespace strand::nn
