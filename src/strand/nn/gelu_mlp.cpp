#include "strand/nn/gelu_mlp.h"

#include "strand/ops/activation.h"

namespace strand::nn {

GeluMLP::GeluMLP(const std::string& in_name, const std::string& out_name, int64_t hidden, int64_t ffn,
                 const Placement& placement)
    : in_(in_name, hidden, ffn, true, placement), out_(out_name, ffn, hidden, true, placement) {}

// gelu(in(x)) is not kept: the backward recomputes it from the pre-activation (one elementwise pass), which
// saves a [T, ffn] activation per block.
Tensor GeluMLP::forward(Arena& arena, const Tensor& x, const Tensor& residual) {
  pre_activation_ = in_.forward(arena, x);
  const Tensor y = Tensor::from_arena(arena, {x.size(0), x.size(1)}, x.dtype());
  const Arena::Mark mark = arena.mark();
  const Tensor act = Tensor::from_arena(arena, pre_activation_.shape(), pre_activation_.dtype());
  gelu_forward(act, pre_activation_);
  out_.forward(arena, act, residual, y);
  arena.release(mark);
  return y;
}

Tensor GeluMLP::backward(Arena& arena, const Tensor& dy) {
  const Tensor act = Tensor::from_arena(arena, pre_activation_.shape(), pre_activation_.dtype());
  gelu_forward(act, pre_activation_);
  out_.rebind_input(act);
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
