// Raw memory on a device: the only place the core touches a device runtime.
// Builds without CUDA report a clear error when a CUDA device is asked for.
#pragma once

#include "strand/core/tensor.h"

#include <cstddef>

namespace strand {

int cuda_device_count();  // 0 without CUDA, without a driver or without a GPU
void* device_alloc(Device device, size_t bytes);
void device_free(Device device, void* ptr);
// Copies bytes between any two devices (host included); synchronous.
void device_copy(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);

}  // namespace strand
