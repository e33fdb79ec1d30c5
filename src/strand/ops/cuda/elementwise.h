// Elementwise arithmetic on the GPU.
#pragma once

#include "strand/ops/cuda/launch.h"

namespace strand::cuda {

// dst[i] += src[i] for n contiguous elements of dtype act.
void add_inplace(DType act, void* dst, const void* src, int64_t n, cudaStream_t stream);
// dst[i] = src[i] converted (F32 -> act, rounding to nearest even), n contiguous elements.
void cast_from_f32(DType act, void* dst, const float* src, int64_t n, cudaStream_t stream);
// dst[i] = value for n contiguous F32 elements.
void fill_f32(float* dst, float value, int64_t n, cudaStream_t stream);

}  // namespace strand::cuda
