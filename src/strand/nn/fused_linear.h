// Linear products: y = x [W_0; W_1; ...]^T (+ [b_0; b_1; ...]), one or several projections of one input.
//
// This is the one implementation of a linear module: Linear (linear.h) is a one-part FusedLinear, so a
// change to how products run (their precision recipe, FP8 later) is made here once.
//
// Each part keeps its own named parameters, so checkpoints, HF interop and the optimizer see them apart; they
// are slices of one weight, bias and gradient buffer, so the forward is one GEMM and the backward one dx and
// one dw GEMM, where separate projections take one of each per part and a sum of their dx. Attention's q, k
// and v projections and the gated MLP's gate and up projections are the uses: their output is read as
// row-strided slices.
#pragma once

#include "strand/core/arena.h"
#include "strand/nn/linear_precision.h"
#include "strand/nn/parameter.h"

#include <optional>
#include <string>
#include <vector>

namespace strand::nn {

struct LinearPart {
  std::string prefix;  // parameters `prefix.weight` [out, in] and, with a bias, `prefix.bias` [out]
  int64_t out = 0;
};

class FusedLinear {
 public:
  // Owns every part's parameters. `precision` defaults to LinearPrecision::of(placement); one the products
  // cannot run is an error (linear_precision.h).
  FusedLinear(const std::vector<LinearPart>& parts, int64_t in, bool bias, const Placement& placement,
              const std::optional<LinearPrecision>& precision = std::nullopt);
  FusedLinear(const FusedLinear&) = delete;
  FusedLinear& operator=(const FusedLinear&) = delete;
  FusedLinear(FusedLinear&&) = default;  // the parameters' addresses (collect) move with their vector
  FusedLinear& operator=(FusedLinear&&) = delete;
  ~FusedLinear() = default;

  // x [T, in] -> y [T, sum of the parts' out] from the arena, plus residual [T, sum of out] when given (a
  // block's skip connection, added by the same product); part i is columns [offset(i), offset(i) + out_i).
  // `out`, when given, receives y instead of a new arena tensor. x must stay valid until backward.
  Tensor forward(Arena& arena, const Tensor& x, const Tensor& residual = Tensor(),
                 const Tensor& out = Tensor());
  // Points the backward at a recomputed copy of the forward's input (for callers that free the input after
  // the forward pass).
  void rebind_input(const Tensor& x) { input_ = x; }
  // dy [T, sum of out] (contiguous) -> dx [T, in] from the arena (undefined if !need_dx); accumulates every
  // part's weight and bias gradients (a tied weight's into the parameter it reads).
  Tensor backward(Arena& arena, const Tensor& dy, bool need_dx = true);

  int64_t offset(size_t part) const { return offsets_[part]; }
  const LinearPrecision& precision() const { return precision_; }
  // Part `part`'s weight parameter (the tied one for a tied product).
  Parameter& weight(size_t part = 0);
  // Appends the parameters this module owns, in part order, each weight before its bias (as separate Linears
  // would); a tied weight is not among them.
  void collect(ParameterList& out);

 protected:
  struct PartNames {
    std::string weight, bias;  // an empty bias: no bias (every part of a product has one, or none)
    int64_t out = 0;
  };
  // Parts with their parameter names spelled out.
  FusedLinear(const std::vector<PartNames>& parts, int64_t in, const Placement& placement,
              const std::optional<LinearPrecision>& precision);
  // One part reading another module's weight [out, in] (a tied LM head), owning at most a bias named
  // `bias_name` (allocated on `placement`). The default precision is that of the tied weight's placement.
  // REQUIRES: `tied` outlives this module and does not move.
  FusedLinear(Parameter& tied, const std::string& bias_name, const Placement& placement,
              const std::optional<LinearPrecision>& precision);

 private:
  void allocate_bias(int64_t total, const Placement& placement);
  // Checks that a product operand has the dtype the precision recipe reads it in.
  void check_operand(const Tensor& t, const char* operand, DType expected) const;
  const Tensor& product_weight() const { return weight_compute_.defined() ? weight_compute_ : weight_; }
  const Tensor& product_bias() const { return bias_compute_.defined() ? bias_compute_ : bias_; }

  std::string name_;  // the first part's weight, for messages
  LinearPrecision precision_;
  Tensor weight_, weight_grad_, weight_compute_;  // [sum of out, in]
  Tensor bias_, bias_grad_, bias_compute_;        // [sum of out], undefined without a bias
  std::vector<int64_t> offsets_;
  std::vector<Parameter> params_;  // the owned ones, in collect order
  Parameter* tied_ = nullptr;
  // The parameters tiling weight_grad_ and bias_grad_ (the tied one for a tied product), for claim_grads.
  std::vector<Parameter*> weight_parts_, bias_parts_;
  Tensor input_;
};

}  // namespace strand::nn
