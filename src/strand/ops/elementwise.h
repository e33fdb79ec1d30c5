// Elementwise arithmetic the modules need between ops (residual adds, summing gradient branches, refreshing
// compute copies of weights).
#pragma once

#include "strand/core/tensor.h"

namespace strand {

// dst += src (same shape and float dtype).
void add_inplace(const Tensor& dst, const Tensor& src);

// dst = src rounded to dst's dtype (same shape, same device; on CUDA src is F32 and dst F32 or BF16).
void convert(const Tensor& dst, const Tensor& src);

// t = 0, on any device, without a host round trip.
void zero(const Tensor& t);

// dst = src (same shape, dtype and device), without a host round trip. Either may be row-strided (rows
// spaced apart, as in a slice of a fused projection's output), so slices are copied without a gather.
void copy(const Tensor& dst, const Tensor& src);

}  // namespace strand
