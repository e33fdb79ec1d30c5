// The CUDA runtime state the backend shares: the stream every op enqueues on, library handles and a scratch
// workspace. Each device has its own, created on first use of that device; ops use the state of the calling
// thread's current device (select_device, core/device_memory.h), which is where their tensors live.
#pragma once

#include <cuda_runtime.h>

#include <array>
#include <cstddef>
#include <mutex>

struct cublasLtContext;

namespace strand::cuda {

// The most CUDA devices per-device state is kept for.
inline constexpr int kMaxDevices = 64;

// The ordinal of the calling thread's current device, checked against kMaxDevices.
int current_device();

// One T per device, built on first use of that device (while it is current) and kept for the process's
// lifetime: never destroyed, since destroying CUDA objects during static destruction could run after the
// runtime has shut down. T's constructor may create CUDA objects; first uses may come from any thread.
template <typename T>
T& per_device() {
  static std::array<std::once_flag, kMaxDevices> built;
  static std::array<T*, kMaxDevices> states{};
  const auto d = static_cast<size_t>(current_device());
  std::call_once(built[d], [&] { states[d] = new T; });
  return *states[d];
}

// The stream all ops run on. It is a blocking stream, so plain cudaMemcpy on the default stream (the core's
// device_copy) stays ordered with it.
cudaStream_t stream();
// A second stream, for work that overlaps the main stream's inside one op. fork_side() makes it wait for
// everything enqueued on stream() so far; join_side() makes stream() wait for everything enqueued on it, so
// ops stay ordered as if they had one stream. An op that forks joins before it returns, unless a
// DeferredWeightGrads scope (ops/linear.h) moves linear_backward's join to the scope's end.
cudaStream_t side_stream();
void fork_side();
void join_side();
// cuBLASLt handle (cublasLtHandle_t).
cublasLtContext* cublaslt();

// A device buffer of at least `bytes` for the duration of one op: later calls may reuse (or grow) it, so it
// must not be held across ops. Grows only when a larger size is first asked for, so steady-state steps
// allocate nothing.
void* scratch(size_t bytes);

// Waits for all work on stream(), throwing strand::Error naming `what` on a failure.
void synchronize(const char* what);

}  // namespace strand::cuda
