#include "strand/nn/layernorm.h"

#include "strand/ops/norm.h"
#include "strand/ops/precision.h"

namespace strand::nn {

LayerNorm::LayerNorm(const std::string& prefix, int64_t width, double eps, const Placement& placement)
    : weight_(prefix + ".weight", {width}, placement, false),
      bias_(prefix + ".bias", {width}, placement, false),
      eps_(eps) {
  init_constant(weight_, 1.0);
  init_constant(bias_, 0.0);
}

Tensor LayerNorm::forward(Arena& arena, const Tensor& x) {
  input_ = x;
  mean_ = Tensor::from_arena(arena, {x.size(0)}, statistics_dtype(x));
  rstd_ = Tensor::from_arena(arena, {x.size(0)}, statistics_dtype(x));
  Tensor y = Tensor::from_arena(arena, x.shape(), x.dtype());
  layernorm_forward(y, mean_, rstd_, x, weight_.weight(), bias_.weight(), eps_);
  return y;
}

Tensor LayerNorm::backward(Arena& arena, const Tensor& dy, const Tensor& dresidual, const Tensor& out) {
  const Tensor dx = out.defined() ? out : Tensor::from_arena(arena, input_.shape(), input_.dtype());
  layernorm_backward(dx, weight_.grad, bias_.grad, dy, input_, weight_.weight(), mean_, rstd_, dresidual,
                     claim_grad(weight_), claim_grad(bias_));
  return dx;
}

void LayerNorm::collect(ParameterList& out) {
  out.push_back(&weight_);
  out.push_back(&bias_);
}

}  // namespace strand::nn
