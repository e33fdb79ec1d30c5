// Raw memory on a device: the only place the core touches a device runtime.
// Builds without CUDA report a clear error when a CUDA device is asked for.
#pragma once

#include "strand/core/tensor.h"

#include <cstddef>

namespace strand {

int cuda_device_count();  // 0 without CUDA, without a driver or without a GPU
void* device_alloc(Device device, size_t bytes);
void device_free(Device device, void* ptr);
// Sets bytes to zero on any device, without staging through the host.
void device_zero(void* ptr, Device device, size_t bytes);
// Copies bytes between any two devices (host included); synchronous.
void device_copy(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);

// Bytes of GPU memory strand holds through device_alloc now, and the most it held since the last reset: the
// figure comparable to PyTorch's max_memory_allocated (the CUDA context and library handles excluded).
size_t cuda_allocated_bytes();
size_t cuda_peak_allocated_bytes();
void reset_cuda_peak_allocated_bytes();

}  // namespace strand
