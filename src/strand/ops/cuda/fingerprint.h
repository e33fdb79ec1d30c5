// A 64-bit fingerprint of device bytes, to tell whether two results are bit-identical without keeping both.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace strand::cuda {

// The fingerprint of `bytes` (a multiple of 4) at `data`, using `sum` (one device word) as the accumulator.
// Synchronises the stream.
uint64_t fingerprint(const void* data, size_t bytes, unsigned long long* sum, cudaStream_t stream);

}  // namespace strand::cuda
