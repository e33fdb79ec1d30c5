#include "strand/nn/linear.h"

namespace strand::nn {

Linear::Linear(const std::string& prefix, int64_t in, int64_t out, bool bias, const Placement& placement,
               const std::optional<LinearPrecision>& precision)
    : Linear(prefix + ".weight", bias ? prefix + ".bias" : "", in, out, placement, precision) {}

Linear::Linear(const std::string& weight_name, const std::string& bias_name, int64_t in, int64_t out,
               const Placement& placement, const std::optional<LinearPrecision>& precision)
    : FusedLinear(std::vector<PartNames>{{weight_name, bias_name, out}}, in, placement, precision) {}

Linear::Linear(Parameter& tied, const std::string& bias_name, const Placement& placement,
               const std::optional<LinearPrecision>& precision)
    : FusedLinear(tied, bias_name, placement, precision) {}

}  // namespace strand::nn
