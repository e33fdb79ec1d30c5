#include "strand/nn/gated_mlp.h"

#include "strand/ops/activation.h"
#include "strand/ops/linear.h"

namespace strand::nn {

GatedMLP::GatedMLP(const std::string& prefix, int64_t hidden, int64_t ffn, const Placement& placement)
    : ffn_(ffn),
      gate_up_proj_({{prefix + ".gate_proj", ffn}, {prefix + ".up_proj", ffn}}, hidden, false, placement),
      down_proj_(prefix + ".down_proj", ffn, hidden, false, placement) {}

// silu(gate) * up is not kept: the backward recomputes it from gate and up (one elementwise pass), which
// saves a [T, ffn] activation per block.
Tensor GatedMLP::forward(Arena& arena, const Tensor& x, const Tensor& residual) {
  gate_up_ = gate_up_proj_.forward(arena, x);
  const Tensor out = Tensor::from_arena(arena, {x.size(0), x.size(1)}, x.dtype());
  const Arena::Mark mark = arena.mark();
  const Tensor act = Tensor::from_arena(arena, {x.size(0), ffn_}, x.dtype());
  swiglu_forward(act, gate_of(gate_up_), up_of(gate_up_));
  down_proj_.forward(arena, act, residual, out);
  arena.release(mark);
  return out;
}

Tensor GatedMLP::backward(Arena& arena, const Tensor& dy) {
  // Both weight-gradient products overlap what follows them here; every operand (dy, the recomputed
  // activation, the gate/up gradient and the block's input) lives past the scope.
  const DeferredWeightGrads deferred;
  const int64_t tokens = gate_up_.size(0);
  const Tensor act = Tensor::from_arena(arena, {tokens, ffn_}, gate_up_.dtype());
  swiglu_forward(act, gate_of(gate_up_), up_of(gate_up_));
  down_proj_.rebind_input(act);
  const Tensor dact = down_proj_.backward(arena, dy);
  const Tensor dgate_up = Tensor::from_arena(arena, gate_up_.shape(), gate_up_.dtype());
  swiglu_backward(gate_of(dgate_up), up_of(dgate_up), dact, gate_of(gate_up_), up_of(gate_up_));
  return gate_up_proj_.backward(arena, dgate_up);
}

void GatedMLP::collect(ParameterList& out) {
  gate_up_proj_.collect(out);
  down_proj_.collect(out);
}

}  // namespace strand::nn
