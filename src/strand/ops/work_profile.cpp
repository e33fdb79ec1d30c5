#include "strand/ops/work_profile.h"

#include "strand/core/error.h"

#include <chrono>
#include <vector>

#if defined(STRAND_WITH_CUDA)
#include "strand/cuda/runtime.h"
#endif

namespace strand {
namespace {

struct Profile {
  bool on = false;
  int depth = 0;
  std::array<double, kWorkKinds> host_ms{};
#if defined(STRAND_WITH_CUDA)
  struct Span {
    cudaEvent_t start = nullptr, end = nullptr;
    WorkKind kind = WorkKind::gemm;
  };
  // Event pairs are created once and reused, so a steady-state step creates none.
  std::vector<Span> spans;
  size_t used = 0;
#endif
};

Profile& profile() {
  static Profile p;
  return p;
}

double host_ms_now() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

#if defined(STRAND_WITH_CUDA)
void check(cudaError_t e, const char* what) {
  STRAND_CHECK(e == cudaSuccess, "work profile: {} failed: {}", what, cudaGetErrorString(e));
}
#endif

}  // namespace

const char* work_kind_name(WorkKind kind) {
  switch (kind) {
    case WorkKind::gemm:
      return "gemm";
    case WorkKind::attention:
      return "attention";
    case WorkKind::elementwise:
      return "elementwise";
    case WorkKind::optimizer:
      return "optimizer";
  }
  return "?";
}

WorkProfiling::WorkProfiling(bool on) : on_(on) {
  if (!on_) return;
  Profile& p = profile();
  STRAND_CHECK(!p.on && p.depth == 0, "work profiling started twice, or inside an op");
  p.on = true;
  take_work_times();
}

WorkProfiling::~WorkProfiling() {
  if (!on_) return;
  Profile& p = profile();
  p.on = false;
  p.host_ms = {};
#if defined(STRAND_WITH_CUDA)
  p.used = 0;  // spans not taken are dropped; their events are reused by the next profile
#endif
}

std::array<double, kWorkKinds> take_work_times() {
  Profile& p = profile();
  std::array<double, kWorkKinds> ms = p.host_ms;
  p.host_ms = {};
#if defined(STRAND_WITH_CUDA)
  if (p.used > 0) {
    check(cudaEventSynchronize(p.spans[p.used - 1].end), "waiting for the recorded ops");
    for (size_t i = 0; i < p.used; ++i) {
      float elapsed = 0;
      check(cudaEventElapsedTime(&elapsed, p.spans[i].start, p.spans[i].end), "reading an op's span");
      ms[static_cast<size_t>(p.spans[i].kind)] += elapsed;
    }
    p.used = 0;
  }
#endif
  return ms;
}

WorkScope::WorkScope(WorkKind kind, Device device) : kind_(kind), device_(device) {
  Profile& p = profile();
  if (!p.on) return;
  if (p.depth++ > 0) {
    nested_ = true;
    return;
  }
  recording_ = true;
  if (device.type == DeviceType::CPU) {
    start_ms_ = host_ms_now();
    return;
  }
#if defined(STRAND_WITH_CUDA)
  if (p.used == p.spans.size()) {
    Profile::Span s;
    check(cudaEventCreate(&s.start), "creating an event");
    check(cudaEventCreate(&s.end), "creating an event");
    p.spans.push_back(s);
  }
  span_ = p.used++;
  p.spans[span_].kind = kind;
  check(cudaEventRecord(p.spans[span_].start, cuda::stream()), "recording an op's start");
#endif
}

WorkScope::~WorkScope() {
  if (!recording_ && !nested_) return;
  Profile& p = profile();
  --p.depth;
  if (!recording_) return;
  if (device_.type == DeviceType::CPU) {
    p.host_ms[static_cast<size_t>(kind_)] += host_ms_now() - start_ms_;
    return;
  }
#if defined(STRAND_WITH_CUDA)
  // A destructor must not throw: a failed record surfaces at the next synchronisation instead.
  (void)cudaEventRecord(p.spans[span_].end, cuda::stream());
#endif
}

}  // namespace strand
