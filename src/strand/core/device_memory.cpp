#include "strand/core/device_memory.h"

#include <cstdlib>
#include <cstring>
#include <new>

#if defined(STRAND_WITH_CUDA)
#include <cuda_runtime.h>
#endif

namespace strand {

#if defined(STRAND_WITH_CUDA)
namespace {
void cuda_check(cudaError_t status, const char* what) {
  STRAND_CHECK(status == cudaSuccess, "CUDA {} failed: {}", what, cudaGetErrorString(status));
}
}  // namespace

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return n;
}
#else
int cuda_device_count() {
  return 0;
}
#endif

// Host buffers are 64-byte aligned so vector loads and cache lines never straddle a tensor's start.
constexpr size_t kHostAlignment = 64;

void* device_alloc(Device device, size_t bytes) {
  if (bytes == 0) bytes = 1;
  if (device.type == DeviceType::CPU) {
    void* p =
        std::aligned_alloc(kHostAlignment, (bytes + kHostAlignment - 1) / kHostAlignment * kHostAlignment);
    STRAND_CHECK(p != nullptr, "out of host memory allocating {} bytes", bytes);
    return p;
  }
#if defined(STRAND_WITH_CUDA)
  cuda_check(cudaSetDevice(device.index), "cudaSetDevice");
  void* p = nullptr;
  const cudaError_t status = cudaMalloc(&p, bytes);
  STRAND_CHECK(status == cudaSuccess, "out of GPU memory on {} allocating {} bytes: {}", device.str(), bytes,
               cudaGetErrorString(status));
  return p;
#else
  STRAND_CHECK(false, "{} requested, but this strand was built without CUDA", device.str());
#endif
}

void device_free(Device device, void* ptr) {
  if (device.type == DeviceType::CPU) {
    std::free(ptr);
    return;
  }
#if defined(STRAND_WITH_CUDA)
  cudaFree(ptr);
#endif
}

void device_copy(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) {
  if (bytes == 0) return;
  if (dst_device.type == DeviceType::CPU && src_device.type == DeviceType::CPU) {
    std::memcpy(dst, src, bytes);
    return;
  }
#if defined(STRAND_WITH_CUDA)
  cuda_check(cudaMemcpy(dst, src, bytes, cudaMemcpyDefault), "cudaMemcpy");
#else
  STRAND_CHECK(false, "copy involving a CUDA device, but this strand was built without CUDA");
#endif
}

}  // namespace strand
