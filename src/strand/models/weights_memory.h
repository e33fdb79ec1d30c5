// The check a model makes before allocating its parameters: a shape from a recipe or a config.json that
// cannot fit is an error with the sizes, before the allocation grows until the kernel kills the process.
#pragma once

#include "strand/core/device_memory.h"
#include "strand/nn/parameter.h"

#include <fmt/format.h>

#include <string_view>

namespace strand {

// `parameters` weights in placement's master dtype, plus a compute copy when it computes in another.
inline void check_weights_fit(int64_t parameters, const nn::Placement& placement, std::string_view model) {
  double bytes_per_parameter = static_cast<double>(dtype_size(placement.master));
  if (placement.has_compute_copy())
    bytes_per_parameter += static_cast<double>(dtype_size(placement.compute));
  check_memory_available(placement.device, static_cast<double>(parameters) * bytes_per_parameter,
                         fmt::format("{} of {} parameters", model, parameters));
}

}  // namespace strand
