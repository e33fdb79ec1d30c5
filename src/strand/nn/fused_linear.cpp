#include "strand/nn/fused_linear.h"

#include "strand/ops/linear.h"

namespace strand::nn {
namespace {

// The rows [begin, begin + count) of t, or undefined for an undefined t.
Tensor rows_of(const Tensor& t, int64_t begin, int64_t count) {
  return t.defined() ? t.narrow(0, begin, count) : Tensor();
}

}  // namespace

FusedLinear::FusedLinear(const std::vector<LinearPart>& parts, int64_t in, bool bias,
                         const Placement& placement) {
  STRAND_CHECK(!parts.empty() && in > 0, "fused linear: needs parts and a positive input width");
  int64_t total = 0;
  for (const LinearPart& p : parts) {
    STRAND_CHECK(p.out > 0, "fused linear: part {} has {} outputs", p.prefix, p.out);
    offsets_.push_back(total);
    total += p.out;
  }
  const Shape shape{total, in};
  weight_ = Tensor::empty(shape, placement.master, placement.device);
  weight_grad_ = Tensor::zeros(shape, placement.master, placement.device);
  if (placement.has_compute_copy())
    weight_compute_ = Tensor::empty(shape, placement.compute, placement.device);
  if (bias) {
    bias_ = Tensor::empty({total}, placement.master, placement.device);
    bias_grad_ = Tensor::zeros({total}, placement.master, placement.device);
    if (placement.has_compute_copy())
      bias_compute_ = Tensor::empty({total}, placement.compute, placement.device);
  }
  params_.reserve(parts.size() * (bias ? 2 : 1));  // no reallocation: collect() hands out pointers
  for (size_t i = 0; i < parts.size(); ++i) {
    const int64_t begin = offsets_[i], count = parts[i].out;
    params_.emplace_back(parts[i].prefix + ".weight", rows_of(weight_, begin, count),
                         rows_of(weight_grad_, begin, count), rows_of(weight_compute_, begin, count), true);
    weight_parts_.push_back(&params_.back());
    if (bias) {
      params_.emplace_back(parts[i].prefix + ".bias", rows_of(bias_, begin, count),
                           rows_of(bias_grad_, begin, count), rows_of(bias_compute_, begin, count), false);
      bias_parts_.push_back(&params_.back());
    }
  }
}

Tensor FusedLinear::forward(Arena& arena, const Tensor& x) {
  input_ = x;
  const Tensor& w = weight_compute_.defined() ? weight_compute_ : weight_;
  const Tensor& b = bias_compute_.defined() ? bias_compute_ : bias_;
  const Tensor y = Tensor::from_arena(arena, {x.size(0), w.size(0)}, x.dtype());
  linear_forward(y, x, w, b);
  return y;
}

Tensor FusedLinear::backward(Arena& arena, const Tensor& dy, bool need_dx) {
  const Tensor& w = weight_compute_.defined() ? weight_compute_ : weight_;
  Tensor dx = need_dx ? Tensor::from_arena(arena, input_.shape(), input_.dtype()) : Tensor();
  linear_backward(dx, weight_grad_, bias_grad_, dy, input_, w, claim_grads(weight_parts_),
                  claim_grads(bias_parts_));
  return dx;
}

void FusedLinear::collect(ParameterList& out) {
  for (Parameter& p : params_) out.push_back(&p);
}

}  // namespace strand::nn
