#include "strand/core/device_memory.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <unordered_map>

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

namespace {

// Sizes of live GPU allocations, for the allocated/peak figures (allocations are few: arenas, parameters).
struct GpuAllocations {
  std::mutex mutex;
  std::unordered_map<void*, size_t> sizes;
  size_t current = 0;
  size_t peak = 0;
};

GpuAllocations& gpu_allocations() {
  static GpuAllocations a;
  return a;
}

}  // namespace

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
  if (status != cudaSuccess) cudaGetLastError();  // not sticky: clear it so later calls are unaffected
  STRAND_CHECK(status == cudaSuccess,
               "out of GPU memory on {} allocating {:.2f} GiB (strand holds {:.2f} GiB): {}", device.str(),
               static_cast<double>(bytes) / (1 << 30),
               static_cast<double>(cuda_allocated_bytes()) / (1 << 30), cudaGetErrorString(status));
  GpuAllocations& a = gpu_allocations();
  const std::lock_guard lock(a.mutex);
  a.sizes[p] = bytes;
  a.current += bytes;
  a.peak = std::max(a.peak, a.current);
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
  {
    GpuAllocations& a = gpu_allocations();
    const std::lock_guard lock(a.mutex);
    const auto it = a.sizes.find(ptr);
    if (it != a.sizes.end()) {
      a.current -= it->second;
      a.sizes.erase(it);
    }
  }
  cudaFree(ptr);
#endif
}

size_t cuda_allocated_bytes() {
  GpuAllocations& a = gpu_allocations();
  const std::lock_guard lock(a.mutex);
  return a.current;
}

size_t cuda_peak_allocated_bytes() {
  GpuAllocations& a = gpu_allocations();
  const std::lock_guard lock(a.mutex);
  return a.peak;
}

void reset_cuda_peak_allocated_bytes() {
  GpuAllocations& a = gpu_allocations();
  const std::lock_guard lock(a.mutex);
  a.peak = a.current;
}

void device_zero(void* ptr, Device device, size_t bytes) {
  if (bytes == 0) return;
  if (device.type == DeviceType::CPU) {
    std::memset(ptr, 0, bytes);
    return;
  }
#if defined(STRAND_WITH_CUDA)
  cuda_check(cudaMemset(ptr, 0, bytes), "cudaMemset");
#else
  STRAND_CHECK(false, "{} requested, but this strand was built without CUDA", device.str());
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
