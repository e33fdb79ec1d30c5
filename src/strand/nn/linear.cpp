#include "strand/nn/linear.h"

#include "strand/ops/linear.h"

namespace strand::nn {

Linear::Linear(const std::string& prefix, int64_t in, int64_t out, bool bias, const Placement& placement)
    : Linear(prefix + ".weight", bias ? prefix + ".bias" : "", in, out, placement) {}

Linear::Linear(const std::string& weight_name, const std::string& bias_name, int64_t in, int64_t out,
               const Placement& placement)
    : weight_(std::in_place, weight_name, Shape{out, in}, placement, true) {
  if (!bias_name.empty()) bias_.emplace(bias_name, Shape{out}, placement, false);
}

Linear::Linear(Parameter& tied, const std::string& bias_name, const Placement& placement) : tied_(&tied) {
  if (!bias_name.empty()) bias_.emplace(bias_name, Shape{tied.value.size(0)}, placement, false);
}

Tensor Linear::forward(Arena& arena, const Tensor& x, const Tensor& residual, const Tensor& out) {
  Parameter& w = weight();
  input_ = x;
  const Tensor y = out.defined() ? out : Tensor::from_arena(arena, {x.size(0), w.value.size(0)}, x.dtype());
  linear_forward(y, x, w.weight(), bias_ ? bias_->weight() : Tensor(), residual);
  return y;
}

Tensor Linear::backward(Arena& arena, const Tensor& dy, bool need_dx) {
  Parameter& w = weight();
  Tensor dx = need_dx ? Tensor::from_arena(arena, input_.shape(), input_.dtype()) : Tensor();
  linear_backward(dx, w.grad, bias_ ? bias_->grad : Tensor(), dy, input_, w.weight(), claim_grad(w),
                  bias_ ? claim_grad(*bias_) : GradWrite::accumulate);
  return dx;
}

void Linear::collect(ParameterList& out) {
  if (weight_) out.push_back(&*weight_);
  if (bias_) out.push_back(&*bias_);
}

}  // namespace strand::nn
