// Gated feed-forward block (Llama MLP): down(silu(gate(x)) * up(x)), no biases.
// gate and up are one fused product ([T, 2 ffn]: gate in columns [0, ffn), up in [ffn, 2 ffn)) that the
// SwiGLU reads as row-strided halves; its backward fills one such buffer of their gradients and runs one
// product back to dx.
// Parameter names follow transformers: <prefix>.{gate,up,down}_proj.weight, in that order.
#pragma once

#include "strand/core/arena.h"
#include "strand/nn/fused_linear.h"
#include "strand/nn/linear.h"

namespace strand::nn {

class GatedMLP {
 public:
  GatedMLP(const std::string& prefix, int64_t hidden, int64_t ffn, const Placement& placement);
  // [T, hidden] -> [T, hidden], plus residual when given (added by the down projection).
  Tensor forward(Arena& arena, const Tensor& x, const Tensor& residual = Tensor());
  // dy [T, hidden] -> dx [T, hidden]; accumulates parameter gradients.
  Tensor backward(Arena& arena, const Tensor& dy);
  void collect(ParameterList& out);

 private:
  // The gate and up halves of a [T, 2 ffn] buffer of the fused product's layout.
  Tensor gate_of(const Tensor& gate_up) const { return gate_up.narrow(1, 0, ffn_); }
  Tensor up_of(const Tensor& gate_up) const { return gate_up.narrow(1, ffn_, ffn_); }

  int64_t ffn_;
  FusedLinear gate_up_proj_;
  Linear down_proj_;
  Tensor gate_up_;
};

}  // namespace strand::nn
