#include "strand/core/device_memory.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>

#include <unistd.h>

#if defined(STRAND_WITH_CUDA)
#include <cuda_runtime.h>
#endif

namespace strand {

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

std::atomic<uint64_t> g_allocations{0}, g_frees{0};

}  // namespace

#if defined(STRAND_WITH_CUDA)
namespace {

void cuda_check(cudaError_t status, const char* what) {
  STRAND_CHECK(status == cudaSuccess, "CUDA {} failed: {}", what, cudaGetErrorString(status));
}

// The calling thread's current device as the CUDA runtime knows it, cached so that ops never ask the
// runtime (-1: not yet read).
thread_local int t_current_device = -1;

int current_ordinal() {
  if (t_current_device < 0) {
    int device = 0;
    cuda_check(cudaGetDevice(&device), "cudaGetDevice");
    t_current_device = device;
  }
  return t_current_device;
}

void make_current(int ordinal) {
  if (ordinal == current_ordinal()) return;
  cuda_check(cudaSetDevice(ordinal), "cudaSetDevice");
  t_current_device = ordinal;
}

// Makes `ordinal` current for one allocator call and restores the thread's choice after it; on the current
// device (every call but a few at start-up) it costs a comparison. Never throws: frees run in destructors.
class OnDevice {
 public:
  explicit OnDevice(int ordinal) noexcept {
    if (int device = 0; t_current_device < 0 && cudaGetDevice(&device) == cudaSuccess)
      t_current_device = device;
    previous_ = t_current_device;
    if (ordinal != previous_ && cudaSetDevice(ordinal) == cudaSuccess) t_current_device = ordinal;
  }
  ~OnDevice() {
    if (t_current_device != previous_ && previous_ >= 0 && cudaSetDevice(previous_) == cudaSuccess)
      t_current_device = previous_;
  }
  OnDevice(const OnDevice&) = delete;
  OnDevice& operator=(const OnDevice&) = delete;

 private:
  int previous_ = -1;
};

}  // namespace

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return n;
}

void select_device(Device device) {
  if (device.type == DeviceType::CPU) return;
  const int visible = cuda_device_count();
  STRAND_CHECK(device.index >= 0 && device.index < visible, "{} requested, {} CUDA GPU{} visible",
               device.str(), visible, visible == 1 ? "" : "s");
  make_current(device.index);
}

Device current_cuda_device() {
  // A placement may be described where no GPU is visible; allocating on it then fails, saying so.
  if (t_current_device < 0 && cuda_device_count() == 0) return Device::cuda(0);
  return Device::cuda(current_ordinal());
}

void* pinned_host_alloc(size_t bytes) {
  void* p = nullptr;
  const cudaError_t status = cudaHostAlloc(&p, bytes > 0 ? bytes : 1, cudaHostAllocDefault);
  if (status != cudaSuccess) cudaGetLastError();  // not sticky: clear it so later calls are unaffected
  STRAND_CHECK(status == cudaSuccess, "out of pinned host memory allocating {} bytes: {}", bytes,
               cudaGetErrorString(status));
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return p;
}

void pinned_host_free(void* ptr) {
  if (ptr == nullptr) return;
  g_frees.fetch_add(1, std::memory_order_relaxed);
  cudaFreeHost(ptr);
}
#else
int cuda_device_count() {
  return 0;
}

void select_device(Device device) {
  STRAND_CHECK(device.type == DeviceType::CPU, "{} requested, but this strand was built without CUDA",
               device.str());
}

Device current_cuda_device() {
  return Device::cuda(0);
}

void* pinned_host_alloc(size_t bytes) {
  STRAND_CHECK(false, "pinned host memory ({} bytes) requested, but this strand was built without CUDA",
               bytes);
}

void pinned_host_free(void*) {}
#endif

Tensor pinned_host_tensor(const Shape& shape, DType dtype) {
  const size_t bytes = static_cast<size_t>(shape.numel()) * dtype_size(dtype);
  void* p = pinned_host_alloc(bytes);
  return Tensor::wrap(p, shape, dtype, Device::cpu(), std::shared_ptr<void>(p, pinned_host_free));
}

CudaAllocatorCalls cuda_allocator_calls() {
  return {g_allocations.load(std::memory_order_relaxed), g_frees.load(std::memory_order_relaxed)};
}

namespace {

uint64_t host_available_bytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  uint64_t kib = 0;
  std::string unit;
  while (meminfo >> key >> kib >> unit)
    if (key == "MemAvailable:") return kib * 1024;
  // Without /proc (another kernel), the whole physical memory is the bound.
  return static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<uint64_t>(sysconf(_SC_PAGE_SIZE));
}

}  // namespace

uint64_t available_memory_bytes(Device device) {
  if (device.type == DeviceType::CPU) return host_available_bytes();
#if defined(STRAND_WITH_CUDA)
  select_device(device);
  size_t free_bytes = 0, total_bytes = 0;
  cuda_check(cudaMemGetInfo(&free_bytes, &total_bytes), "cudaMemGetInfo");
  return free_bytes;
#else
  select_device(device);  // says this strand was built without CUDA
  return 0;
#endif
}

void check_memory_available(Device device, double bytes, std::string_view what) {
  const auto available = static_cast<double>(available_memory_bytes(device));
  constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
  STRAND_CHECK(bytes <= available, "{} needs {:.1f} GiB on {}, {:.1f} GiB available", what, bytes / kGiB,
               device.str(), available / kGiB);
}

std::optional<Device> try_parse_device(std::string_view text) {
  if (text == "cpu") return Device::cpu();
  if (text == "cuda") return Device::cuda(0);
  constexpr std::string_view prefix = "cuda:";
  if (text.size() <= prefix.size() || text.substr(0, prefix.size()) != prefix) return std::nullopt;
  const std::string_view digits = text.substr(prefix.size());
  int index = -1;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
  if (ec != std::errc() || end != digits.data() + digits.size() || index < 0) return std::nullopt;
  return Device::cuda(index);
}

Device parse_device(std::string_view text, std::string_view what) {
  const std::optional<Device> device = try_parse_device(text);
  STRAND_CHECK(device.has_value(), "{}: expected {}, got {}", what, kDeviceNames, text);
  return *device;
}

Device select_requested_device(std::string_view text, std::string_view what) {
  const Device device = parse_device(text, what);
  if (device.type == DeviceType::CPU) return device;
  STRAND_CHECK(cuda_device_count() > 0,
               "{}={}, but no CUDA GPU is visible (or this strand was built without CUDA)", what, text);
  try {
    select_device(device);
  } catch (const Error& e) {
    throw Error(fmt::format("{}={}: {}", what, text, e.what()));
  }
  return device;
}

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
  void* p = nullptr;
  const cudaError_t status = [&] {
    const OnDevice on(device.index);
    STRAND_CHECK(t_current_device == device.index,
                 "cannot make {} current to allocate on it ({} CUDA GPUs "
                 "visible)",
                 device.str(), cuda_device_count());
    return cudaMalloc(&p, bytes);
  }();
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
  g_allocations.fetch_add(1, std::memory_order_relaxed);
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
  g_frees.fetch_add(1, std::memory_order_relaxed);
  const OnDevice on(device.index);
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
