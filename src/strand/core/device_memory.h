// Raw memory on a device: the only place the core touches a device runtime.
// Builds without CUDA report a clear error when a CUDA device is asked for.
#pragma once

#include "strand/core/tensor.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace strand {

int cuda_device_count();  // 0 without CUDA, without a driver or without a GPU

// The device `text` names: "cpu", "cuda" (cuda:0) or "cuda:N" (N a decimal index from 0), or nothing.
// Whether the device exists is checked when it is selected.
std::optional<Device> try_parse_device(std::string_view text);
inline constexpr const char* kDeviceNames = "cpu, cuda or cuda:N";
// The same, anything else an error naming `what` (the key or option it came from):
// "train.device: expected cpu, cuda or cuda:N, got gpu".
Device parse_device(std::string_view text, std::string_view what);

// The CUDA device a thread's ops run on. select_device makes `device` current on the calling thread (a no-op
// for the CPU), checking that it exists ("cuda:3 requested, 1 CUDA GPU visible"); the CUDA runtime is told
// only when the choice changes. A thread that selected nothing runs on cuda:0, the runtime's default.
void select_device(Device device);
// The device `text` names, made this thread's device, for a request that came from `what` (the key or option
// it was given as): a bad name is parse_device's error; no visible GPU at all says so plainly,
// "train.device=cuda, but no CUDA GPU is visible (or this strand was built without CUDA)", before the CUDA
// runtime is asked anything else; a GPU beyond the visible ones is "--device=cuda:3: cuda:3 requested, 1 CUDA
// GPU visible".
Device select_requested_device(std::string_view text, std::string_view what);
Device current_cuda_device();

// Allocations on a CUDA device other than the current one switch to it for the call and back, so the
// current device changes only through select_device.
void* device_alloc(Device device, size_t bytes);
void device_free(Device device, void* ptr);
// Sets bytes to zero on any device, without staging through the host.
void device_zero(void* ptr, Device device, size_t bytes);
// Copies bytes between any two devices (host included); synchronous.
void device_copy(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);

// Page-locked host memory, which asynchronous copies to and from a GPU need (cudaHostAlloc). Without CUDA
// there is nothing to copy to, and asking is an error.
void* pinned_host_alloc(size_t bytes);
void pinned_host_free(void* ptr);
// A contiguous host tensor in pinned memory, freed with its last view.
Tensor pinned_host_tensor(const Shape& shape, DType dtype);

// Bytes a new allocation on `device` can take now: the host's MemAvailable (/proc/meminfo), or the GPU's
// free memory (cudaMemGetInfo).
uint64_t available_memory_bytes(Device device);
// Throws "<what> needs 20.4 GiB on cpu, 7.8 GiB available" when `bytes` exceed available_memory_bytes: the
// check before a large allocation, so that a size that cannot fit fails with a message instead of growing
// until the kernel kills the process.
void check_memory_available(Device device, double bytes, std::string_view what);

// Bytes of GPU memory strand holds through device_alloc now, and the most it held since the last reset: the
// figure comparable to PyTorch's max_memory_allocated (the CUDA context and library handles excluded).
size_t cuda_allocated_bytes();
size_t cuda_peak_allocated_bytes();
void reset_cuda_peak_allocated_bytes();

// Calls into the CUDA allocator since the process started: device allocations and frees (device_alloc,
// device_free) and pinned host ones (pinned_host_alloc, pinned_host_free). Each synchronises the device, so
// a steady training step makes none; the trainer logs the difference per record.
struct CudaAllocatorCalls {
  uint64_t allocations = 0, frees = 0;
  uint64_t total() const { return allocations + frees; }
};
CudaAllocatorCalls cuda_allocator_calls();

}  // namespace strand
