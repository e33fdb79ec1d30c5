#include "strand/nn/fused_linear.h"

#include "strand/ops/linear.h"

namespace strand::nn {
namespace {

// The rows [begin, begin + count) of t, or undefined for an undefined t.
Tensor rows_of(const Tensor& t, int64_t begin, int64_t count) {
  return t.defined() ? t.narrow(0, begin, count) : Tensor();
}

// The copy kernels read, when the placement keeps one apart from the master values (else undefined).
Tensor compute_copy(const Shape& shape, const Placement& placement) {
  return placement.has_compute_copy() ? Tensor::empty(shape, placement.compute, placement.device) : Tensor();
}

// The placement a parameter was allocated on.
Placement placement_of(const Parameter& p) {
  Placement placement(p.value.dtype());
  placement.device = p.value.device();
  placement.compute = p.weight().dtype();
  return placement;
}

}  // namespace

FusedLinear::FusedLinear(const std::vector<LinearPart>& parts, int64_t in, bool bias,
                         const Placement& placement, const std::optional<LinearPrecision>& precision)
    : FusedLinear(
          [&] {
            std::vector<PartNames> named;
            for (const LinearPart& p : parts)
              named.push_back({p.prefix + ".weight", bias ? p.prefix + ".bias" : "", p.out});
            return named;
          }(),
          in, placement, precision) {}

FusedLinear::FusedLinear(const std::vector<PartNames>& parts, int64_t in, const Placement& placement,
                         const std::optional<LinearPrecision>& precision)
    : precision_(precision.value_or(LinearPrecision::of(placement))) {
  STRAND_CHECK(!parts.empty() && in > 0, "fused linear: needs parts and a positive input width");
  name_ = parts.front().weight;
  check_supported(precision_, placement, name_);
  const bool bias = !parts.front().bias.empty();
  int64_t total = 0;
  for (const PartNames& p : parts) {
    STRAND_CHECK(p.out > 0, "fused linear: part {} has {} outputs", p.weight, p.out);
    STRAND_CHECK(p.bias.empty() != bias, "fused linear: part {} {} a bias, unlike part {}", p.weight,
                 bias ? "lacks" : "has", name_);
    offsets_.push_back(total);
    total += p.out;
  }
  const Shape shape{total, in};
  weight_ = Tensor::empty(shape, placement.master, placement.device);
  weight_grad_ = Tensor::zeros(shape, placement.master, placement.device);
  weight_compute_ = compute_copy(shape, placement);
  if (bias) allocate_bias(total, placement);
  params_.reserve(parts.size() * (bias ? 2 : 1));  // no reallocation: collect() hands out pointers
  for (size_t i = 0; i < parts.size(); ++i) {
    const int64_t begin = offsets_[i], count = parts[i].out;
    params_.emplace_back(parts[i].weight, rows_of(weight_, begin, count), rows_of(weight_grad_, begin, count),
                         rows_of(weight_compute_, begin, count), true);
    weight_parts_.push_back(&params_.back());
    if (bias) {
      params_.emplace_back(parts[i].bias, rows_of(bias_, begin, count), rows_of(bias_grad_, begin, count),
                           rows_of(bias_compute_, begin, count), false);
      bias_parts_.push_back(&params_.back());
    }
  }
}

FusedLinear::FusedLinear(Parameter& tied, const std::string& bias_name, const Placement& placement,
                         const std::optional<LinearPrecision>& precision)
    : name_(tied.name),
      precision_(precision.value_or(LinearPrecision::of(placement_of(tied)))),
      weight_(tied.value),
      weight_grad_(tied.grad),
      weight_compute_(tied.compute),
      offsets_{0},
      tied_(&tied),
      weight_parts_{&tied} {
  check_supported(precision_, placement_of(tied), name_);
  STRAND_CHECK(tied.value.rank() == 2, "linear tied to {}: the weight must be [out, in], got {}", tied.name,
               tied.value.str());
  if (bias_name.empty()) return;
  allocate_bias(tied.value.size(0), placement);
  params_.emplace_back(bias_name, bias_, bias_grad_, bias_compute_, false);
  bias_parts_.push_back(&params_.back());
}

void FusedLinear::allocate_bias(int64_t total, const Placement& placement) {
  bias_ = Tensor::empty({total}, placement.master, placement.device);
  bias_grad_ = Tensor::zeros({total}, placement.master, placement.device);
  bias_compute_ = compute_copy({total}, placement);
}

void FusedLinear::check_operand(const Tensor& t, const char* operand, DType expected) const {
  STRAND_CHECK(!t.defined() || t.dtype() == expected,
               "linear {}: the {} is {}, but the precision recipe reads {}", name_, operand, t.str(),
               dtype_name(expected));
}

// An FP8 recipe (linear_precision.h) quantises x and the weight here, and dy in backward, and passes their
// scales to the products.
Tensor FusedLinear::forward(Arena& arena, const Tensor& x, const Tensor& residual, const Tensor& out) {
  check_operand(x, "input", precision_.input);
  input_ = x;
  const Tensor& w = product_weight();
  const Tensor y = out.defined() ? out : Tensor::from_arena(arena, {x.size(0), w.size(0)}, x.dtype());
  linear_forward(y, x, w, product_bias(), residual);
  return y;
}

Tensor FusedLinear::backward(Arena& arena, const Tensor& dy, bool need_dx) {
  check_operand(dy, "output gradient", precision_.grad_output);
  Tensor dx = need_dx ? Tensor::from_arena(arena, input_.shape(), input_.dtype()) : Tensor();
  // The step's first write to a gradient assigns it (nn::claim_grads), later ones accumulate.
  linear_backward(dx, weight_grad_, bias_grad_, dy, input_, product_weight(), claim_grads(weight_parts_),
                  claim_grads(bias_parts_));
  return dx;
}

Parameter& FusedLinear::weight(size_t part) {
  STRAND_CHECK(part < offsets_.size(), "linear {}: no part {} (it has {})", name_, part, offsets_.size());
  if (tied_ != nullptr) return *tied_;
  return params_[bias_.defined() ? 2 * part : part];
}

void FusedLinear::collect(ParameterList& out) {
  for (Parameter& p : params_) out.push_back(&p);
}

}  // namespace strand::nn
