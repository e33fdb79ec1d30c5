// Linear module: y = x W^T (+ b), a one-part FusedLinear (fused_linear.h) with the constructors a single
// projection needs. Saves its input for the backward.
#pragma once

#include "strand/nn/fused_linear.h"

#include <optional>
#include <string>

namespace strand::nn {

class Linear : public FusedLinear {
 public:
  // Owns weight [out, in] named `prefix.weight` and, if `bias`, bias [out] named `prefix.bias` (not decayed).
  Linear(const std::string& prefix, int64_t in, int64_t out, bool bias, const Placement& placement,
         const std::optional<LinearPrecision>& precision = std::nullopt);
  // The same with the names spelled out (a checkpoint may keep a layer's bias apart from its weight, as
  // ESM-2's LM head does); an empty bias_name means no bias.
  Linear(const std::string& weight_name, const std::string& bias_name, int64_t in, int64_t out,
         const Placement& placement, const std::optional<LinearPrecision>& precision = std::nullopt);
  // Reads another module's weight [out, in] (a tied LM head), owning at most a bias named `bias_name`;
  // gradients accumulate into the tied weight. The default precision is that of the tied weight's placement.
  // REQUIRES: `tied` outlives this module and does not move.
  explicit Linear(Parameter& tied, const std::string& bias_name = "", const Placement& placement = {},
                  const std::optional<LinearPrecision>& precision = std::nullopt);
};

}  // namespace strand::nn
