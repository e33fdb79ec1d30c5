// CUDA versions of the core's bit-exact element functions (dtype rounding, Philox). They share their
// arithmetic with the host through strand/core/{dtype,philox}.h, and tests/cuda checks the results bit for
// bit against the host. Pointers are device pointers; calls are synchronous and throw strand::Error on any
// CUDA failure.
#pragma once

#include "strand/core/dtype.h"

#include <cstddef>
#include <cstdint>

namespace strand::cuda {

// dst[i] = src[i] rounded to dst_dtype (F32, BF16, F16, F8E4M3 or F8E5M2), exactly as convert_elements does.
void convert_from_f32(void* dst, DType dst_dtype, const float* src, size_t n, bool saturate = false);

// dst[i] = philox_normal(seed, stream, i) and philox_bits(seed, stream, i) for i < n.
void philox_normal_fill(float* dst, size_t n, uint64_t seed, uint64_t stream);
void philox_bits_fill(uint32_t* dst, size_t n, uint64_t seed, uint64_t stream);

}  // namespace strand::cuda
