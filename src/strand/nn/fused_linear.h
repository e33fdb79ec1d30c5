// Several projections of one input as one product: y = x [W_0; W_1; ...]^T (+ [b_0; b_1; ...]).
//
// Each part keeps its own named parameters, so checkpoints, HF interop and the optimizer see them apart; they
// are slices of one weight, bias and gradient buffer, so the forward is one GEMM and the backward one dx and
// one dw GEMM, where separate projections take one of each per part and a sum of their dx. Attention's q, k
// and v projections are the use: their output feeds the attention as row-strided slices.
#pragma once

#include "strand/core/arena.h"
#include "strand/nn/parameter.h"

#include <string>
#include <vector>

namespace strand::nn {

struct LinearPart {
  std::string prefix;  // parameters `prefix.weight` [out, in] and, with a bias, `prefix.bias` [out]
  int64_t out = 0;
};

class FusedLinear {
 public:
  FusedLinear(const std::vector<LinearPart>& parts, int64_t in, bool bias, const Placement& placement);
  FusedLinear(const FusedLinear&) = delete;
  FusedLinear& operator=(const FusedLinear&) = delete;

  // x [T, in] -> y [T, sum of the parts' out] from the arena; part i is columns [offset(i), offset(i) +
  // out_i). x must stay valid until backward.
  Tensor forward(Arena& arena, const Tensor& x);
  // dy [T, sum of out] (contiguous) -> dx [T, in] from the arena (undefined if !need_dx); accumulates every
  // part's weight and bias gradients.
  Tensor backward(Arena& arena, const Tensor& dy, bool need_dx = true);

  int64_t offset(size_t part) const { return offsets_[part]; }
  // Appends the parts' parameters in part order, each weight before its bias (as separate Linears would).
  void collect(ParameterList& out);

 private:
  Tensor weight_, weight_grad_, weight_compute_;  // [sum of out, in]
  Tensor bias_, bias_grad_, bias_compute_;        // [sum of out], undefined without a bias
  std::vector<int64_t> offsets_;
  std::vector<Parameter> params_;
  std::vector<Parameter*> weight_parts_, bias_parts_;  // tiling weight_grad_ and bias_grad_, for claim_grads
  Tensor input_;
};

}  // namespace strand::nn
