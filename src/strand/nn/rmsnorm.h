// RMSNorm module (Llama): y = w * x / rms(x). The weight starts at one and is not decayed.
#pragma once

#include "strand/core/arena.h"
#include "strand/nn/parameter.h"

namespace strand::nn {

class RMSNorm {
 public:
  RMSNorm(const std::string& prefix, int64_t width, double eps, const Placement& placement);
  // x [T, C] -> y [T, C]; x must stay valid until backward.
  Tensor forward(Arena& arena, const Tensor& x);
  // dy -> dx, plus dresidual when given (the gradient reaching x through a skip connection, summed in by the
  // same pass).
  // `out`, when given, receives dx instead of a new arena tensor.
  Tensor backward(Arena& arena, const Tensor& dy, const Tensor& dresidual = Tensor(),
                  const Tensor& out = Tensor());
  void collect(ParameterList& out) { out.push_back(&weight_); }

 private:
  Parameter weight_;
  double eps_;
  Tensor input_, rstd_;
};

}  // namespace strand::nn
