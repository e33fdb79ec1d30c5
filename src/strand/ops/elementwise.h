// Elementwise arithmetic the modules need between ops (residual adds, summing gradient branches).
#pragma once

#include "strand/core/tensor.h"

namespace strand {

// dst += src (same shape and float dtype).
void add_inplace(const Tensor& dst, const Tensor& src);

}  // namespace strand
