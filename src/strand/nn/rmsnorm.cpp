#include "strand/nn/rmsnorm.h"

#include "strand/ops/norm.h"
#include "strand/ops/precision.h"

namespace strand::nn {

RMSNorm::RMSNorm(const std::string& prefix, int64_t width, double eps, const Placement& placement)
    : weight_(prefix + ".weight", {width}, placement, false), eps_(eps) {
  init_constant(weight_, 1.0);
}

Tensor RMSNorm::forward(Arena& arena, const Tensor& x) {
  input_ = x;
  rstd_ = Tensor::from_arena(arena, {x.size(0)}, statistics_dtype(x));
  Tensor y = Tensor::from_arena(arena, x.shape(), x.dtype());
  rmsnorm_forward(y, rstd_, x, weight_.weight(), eps_);
  return y;
}

Tensor RMSNorm::backward(Arena& arena, const Tensor& dy, const Tensor& dresidual, const Tensor& out) {
  const Tensor dx = out.defined() ? out : Tensor::from_arena(arena, input_.shape(), input_.dtype());
  rmsnorm_backward(dx, weight_.grad, dy, input_, weight_.weight(), rstd_, dresidual, claim_grad(weight_));
  return dx;
}

}  // namespace strand::nn
