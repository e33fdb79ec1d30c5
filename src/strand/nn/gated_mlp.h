// Gated feed-forward block (Llama MLP): down(silu(gate(x)) * up(x)), no biases.
// Parameter names follow transformers: <prefix>.{gate,up,down}_proj.weight.
#pragma once

#include "strand/core/arena.h"
#include "strand/nn/linear.h"

namespace strand::nn {

class GatedMLP {
 public:
  GatedMLP(const std::string& prefix, int64_t hidden, int64_t ffn, const Placement& placement);
  // [T, hidden] -> [T, hidden], plus residual when given (added by the down projection).
  Tensor forward(Arena& arena, const Tensor& x, const Tensor& residual = Tensor());
  Tensor backward(Arena& arena, const Tensor& dy);
  void collect(ParameterList& out);

 private:
  Linear gate_proj_, up_proj_, down_proj_;
  Tensor gate_, up_;
};

}  // namespace strand::nn
