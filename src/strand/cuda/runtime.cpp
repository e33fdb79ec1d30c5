#include "strand/cuda/runtime.h"

#include "strand/core/device_memory.h"
#include "strand/core/error.h"
#include "strand/cuda/check.h"

#include <cublasLt.h>

#include <algorithm>

namespace strand::cuda {
namespace {

// One device's streams, events, handle and scratch.
struct Runtime {
  Device device = current_cuda_device();
  cudaStream_t stream = nullptr;
  cudaStream_t side = nullptr;
  cudaEvent_t forked = nullptr, joined = nullptr;
  cublasLtHandle_t lt = nullptr;
  void* scratch = nullptr;
  size_t scratch_bytes = 0;

  Runtime() {
    check_cuda(cudaStreamCreate(&stream), "cudaStreamCreate");
    check_cuda(cudaStreamCreate(&side), "cudaStreamCreate");
    check_cuda(cudaEventCreateWithFlags(&forked, cudaEventDisableTiming), "cudaEventCreate");
    check_cuda(cudaEventCreateWithFlags(&joined, cudaEventDisableTiming), "cudaEventCreate");
    const cublasStatus_t s = cublasLtCreate(&lt);
    STRAND_CHECK(s == CUBLAS_STATUS_SUCCESS, "cublasLtCreate failed with status {}", static_cast<int>(s));
  }
};

Runtime& runtime() {
  return per_device<Runtime>();
}

}  // namespace

int current_device() {
  const int d = current_cuda_device().index;
  STRAND_CHECK(d < kMaxDevices, "cuda:{} is current, but strand keeps CUDA state for at most {} devices", d,
               kMaxDevices);
  return d;
}

cudaStream_t stream() {
  return runtime().stream;
}

cudaStream_t side_stream() {
  return runtime().side;
}

void fork_side() {
  Runtime& r = runtime();
  check_cuda(cudaEventRecord(r.forked, r.stream), "fork_side");
  check_cuda(cudaStreamWaitEvent(r.side, r.forked), "fork_side");
}

void join_side() {
  Runtime& r = runtime();
  check_cuda(cudaEventRecord(r.joined, r.side), "join_side");
  check_cuda(cudaStreamWaitEvent(r.stream, r.joined), "join_side");
}

cublasLtContext* cublaslt() {
  return runtime().lt;
}

void* scratch(size_t bytes) {
  Runtime& r = runtime();
  if (bytes > r.scratch_bytes) {
    if (r.scratch != nullptr) {
      check_cuda(cudaStreamSynchronize(r.stream), "scratch resize");
      device_free(r.device, r.scratch);
    }
    const size_t grown = std::max(bytes, r.scratch_bytes * 2);
    r.scratch = device_alloc(r.device, grown);
    r.scratch_bytes = grown;
  }
  return r.scratch;
}

void synchronize(const char* what) {
  check_cuda(cudaStreamSynchronize(stream()), what);
}

}  // namespace strand::cuda
