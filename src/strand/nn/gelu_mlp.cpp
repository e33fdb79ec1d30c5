#include "strand/nn/gelu_mlp.h"

#include "strand/ops/activation.h"
#include "strand/ops/linear.h"

namespace strand::nn {

GeluMLP::GeluMLP(const std::string& in_name, const std::string& out_name, int64_t hidden, int64_t ffn,
                 const Placement& placement)
    : in_(in_name, hidden, ffn, true, placement), out_(out_name, ffn, hidden, true, placement) {}

// gelu(in(x)) is kept for the output projection's weight gradient: recomputing it would cost a [T, ffn]
// read and write per block for the memory a [T, ffn] activation takes (block recompute, when memory is short,
// drops it with the rest of the block).
Tensor GeluMLP::forward(Arena& arena, const Tensor& x, const Tensor& residual) {
  pre_activation_ = in_.forward(arena, x);
  const Tensor act = Tensor::from_arena(arena, pre_activation_.shape(), pre_activation_.dtype());
  gelu_forward(act, pre_activation_);
  return out_.forward(arena, act, residual);
}

Tensor GeluMLP::backward(Arena& arena, const Tensor& dy) {
  // Both weight-gradient products overlap what follows them here; every operand lives past the scope.
  const DeferredWeightGrads deferred;
  const Tensor dact = out_.backward(arena, dy);
  const Tensor dpre = Tensor::from_arena(arena, pre_activation_.shape(), pre_activation_.dtype());
  gelu_backward(dpre, dact, pre_activation_);
  return in_.backward(arena, dpre);
}

void GeluMLP::collect(ParameterList& out) {
  in_.collect(out);
  out_.collect(out);
}

}  // namespace strand::nn
