// LayerNorm module (ESM-2): y = (x - mean) / sqrt(var + eps) * w + b over the last dimension. The weight
// starts at one and the bias at zero; neither is decayed.
#pragma once

#include "strand/core/arena.h"
#include "strand/nn/parameter.h"

namespace strand::nn {

class LayerNorm {
 public:
  // Owns `prefix.weight` and `prefix.bias`, both [width].
  LayerNorm(const std::string& prefix, int64_t width, double eps, const Placement& placement);
  // x [T, C] -> y [T, C] from the arena; x must stay valid until backward.
  Tensor forward(Arena& arena, const Tensor& x);
  // dy -> dx, plus dresidual when given (the gradient reaching x through a skip connection, summed in by the
  // same pass); accumulates the weight and bias gradients.
  // `out`, when given, receives dx instead of a new arena tensor.
  Tensor backward(Arena& arena, const Tensor& dy, const Tensor& dresidual = Tensor(),
                  const Tensor& out = Tensor());
  // Points the backward at a recomputed copy of the forward's input.
  void rebind_input(const Tensor& x) { input_ = x; }
  void collect(ParameterList& out);

 private:
  Parameter weight_, bias_;
  double eps_;
  Tensor input_, mean_, rstd_;
};

}  // namespace strand::nn
