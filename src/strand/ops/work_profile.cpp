#include "strand/ops/work_profile.h"

#include "strand/core/error.h"

#include <fmt/format.h>

#include <chrono>
#include <cstring>
#include <vector>

#if defined(STRAND_WITH_CUDA)
#include "strand/cuda/runtime.h"
#endif

namespace strand {
namespace {

void add_time(WorkTimes& t, WorkKind kind, const char* op, const OpShape& shape, int64_t calls, double ms) {
  t.by_kind[static_cast<size_t>(kind)] += ms;
  for (OpTime& o : t.by_op) {
    if (o.shape == shape && o.kind == kind && std::strcmp(o.op.c_str(), op) == 0) {
      o.calls += calls;
      o.ms += ms;
      return;
    }
  }
  t.by_op.push_back({op, shape, kind, calls, ms});
}

struct Profile {
  bool on = false;
  int depth = 0;
  WorkTimes host;  // CPU spans, summed as they end
#if defined(STRAND_WITH_CUDA)
  struct Span {
    cudaEvent_t start = nullptr, end = nullptr;
    WorkKind kind = WorkKind::gemm;
    const char* op = nullptr;
    OpShape shape;
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

std::string op_shape_text(const OpShape& shape) {
  if (shape.m == 0 && shape.n == 0 && shape.k == 0) return "";
  if (shape.k == 0) return fmt::format("{}x{}", shape.m, shape.n);
  return fmt::format("{}x{}x{}", shape.m, shape.n, shape.k);
}

void merge_work_times(WorkTimes& into, const WorkTimes& more) {
  for (const OpTime& o : more.by_op) add_time(into, o.kind, o.op.c_str(), o.shape, o.calls, o.ms);
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
  p.host = {};
#if defined(STRAND_WITH_CUDA)
  p.used = 0;  // spans not taken are dropped; their events are reused by the next profile
#endif
}

WorkTimes take_work_times() {
  Profile& p = profile();
  WorkTimes times = std::move(p.host);
  p.host = {};
#if defined(STRAND_WITH_CUDA)
  if (p.used > 0) {
    check(cudaEventSynchronize(p.spans[p.used - 1].end), "waiting for the recorded ops");
    for (size_t i = 0; i < p.used; ++i) {
      float elapsed = 0;
      check(cudaEventElapsedTime(&elapsed, p.spans[i].start, p.spans[i].end), "reading an op's span");
      const Profile::Span& s = p.spans[i];
      add_time(times, s.kind, s.op, s.shape, 1, elapsed);
    }
    p.used = 0;
  }
#endif
  return times;
}

WorkScope::WorkScope(WorkKind kind, Device device, const char* op, OpShape shape)
    : kind_(kind), device_(device), op_(op), shape_(shape) {
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
  p.spans[span_].op = op;
  p.spans[span_].shape = shape;
  check(cudaEventRecord(p.spans[span_].start, cuda::stream()), "recording an op's start");
#endif
}

WorkScope::~WorkScope() {
  if (!recording_ && !nested_) return;
  Profile& p = profile();
  --p.depth;
  if (!recording_) return;
  if (device_.type == DeviceType::CPU) {
    add_time(p.host, kind_, op_, shape_, 1, host_ms_now() - start_ms_);
    return;
  }
#if defined(STRAND_WITH_CUDA)
  // A destructor must not throw: a failed record surfaces at the next synchronisation instead.
  (void)cudaEventRecord(p.spans[span_].end, cuda::stream());
#endif
}

}  // namespace strand
