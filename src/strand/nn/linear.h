// Linear module: y = x W^T (+ b). Saves its input for the backward.
#pragma once

#include "strand/core/arena.h"
#include "strand/nn/parameter.h"

#include <optional>

namespace strand::nn {

class Linear {
 public:
  // Owns weight [out, in] named `prefix.weight` and, if `bias`, bias [out] named `prefix.bias` (not decayed).
  Linear(const std::string& prefix, int64_t in, int64_t out, bool bias, const Placement& placement);
  // The same with the names spelled out (a checkpoint may keep a layer's bias apart from its weight, as
  // ESM-2's LM head does); an empty bias_name means no bias.
  Linear(const std::string& weight_name, const std::string& bias_name, int64_t in, int64_t out,
         const Placement& placement);
  // Reads another module's weight [out, in] (a tied LM head), owning at most a bias named `bias_name`;
  // gradients accumulate into the tied weight. REQUIRES: `tied` outlives this module and does not move.
  explicit Linear(Parameter& tied, const std::string& bias_name = "", const Placement& placement = {});

  // x [T, in] -> y [T, out] from the arena, plus residual [T, out] when given (a block's skip connection,
  // added by the same product). x must stay valid until backward.
  // `out`, when given, receives y instead of a new arena tensor.
  Tensor forward(Arena& arena, const Tensor& x, const Tensor& residual = Tensor(),
                 const Tensor& out = Tensor());
  // Points the backward at a recomputed copy of the forward's input (for callers that free the input after
  // the forward pass).
  void rebind_input(const Tensor& x) { input_ = x; }
  // dy [T, out] -> dx [T, in] from the arena (undefined if !need_dx); accumulates weight/bias gradients.
  Tensor backward(Arena& arena, const Tensor& dy, bool need_dx = true);

  // Appends the parameters this module owns.
  void collect(ParameterList& out);
  Parameter& weight() { return tied_ ? *tied_ : *weight_; }

 private:
  std::optional<Parameter> weight_;
  std::optional<Parameter> bias_;
  Parameter* tied_ = nullptr;
  Tensor input_;
};

}  // namespace strand::nn
