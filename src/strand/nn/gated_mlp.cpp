#include "strand/nn/gated_mlp.h"

#include "strand/ops/activation.h"
#include "strand/ops/elementwise.h"

namespace strand::nn {

GatedMLP::GatedMLP(const std::string& prefix, int64_t hidden, int64_t ffn, const Placement& placement)
    : gate_proj_(prefix + ".gate_proj", hidden, ffn, false, placement),
      up_proj_(prefix + ".up_proj", hidden, ffn, false, placement),
      down_proj_(prefix + ".down_proj", ffn, hidden, false, placement) {}

// silu(gate) * up is not kept: the backward recomputes it from gate and up (one elementwise pass), which
// saves a [T, ffn] activation per block.
Tensor GatedMLP::forward(Arena& arena, const Tensor& x, const Tensor& residual) {
  gate_ = gate_proj_.forward(arena, x);
  up_ = up_proj_.forward(arena, x);
  const Tensor out = Tensor::from_arena(arena, {x.size(0), x.size(1)}, x.dtype());
  const Arena::Mark mark = arena.mark();
  const Tensor act = Tensor::from_arena(arena, gate_.shape(), gate_.dtype());
  swiglu_forward(act, gate_, up_);
  down_proj_.forward(arena, act, residual, out);
  arena.release(mark);
  return out;
}

Tensor GatedMLP::backward(Arena& arena, const Tensor& dy) {
  const Tensor act = Tensor::from_arena(arena, gate_.shape(), gate_.dtype());
  swiglu_forward(act, gate_, up_);
  down_proj_.rebind_input(act);
  const Tensor dact = down_proj_.backward(arena, dy);
  Tensor dgate = Tensor::from_arena(arena, gate_.shape(), gate_.dtype());
  Tensor dup = Tensor::from_arena(arena, up_.shape(), up_.dtype());
  swiglu_backward(dgate, dup, dact, gate_, up_);
  Tensor dx = gate_proj_.backward(arena, dgate);
  add_inplace(dx, up_proj_.backward(arena, dup));
  return dx;
}

void GatedMLP::collect(ParameterList& out) {
  for (Linear* l : {&gate_proj_, &up_proj_, &down_proj_}) l->collect(out);
}

}  // namespace strand::nn
