// Where a step's time goes, by kind of work (GEMMs, attention, elementwise and norms, optimizer).
//
// Every op entry point opens a WorkScope. While profiling is off (the default) a scope costs one branch.
// While it is on, the outermost scope of each op records the op's span: two CUDA events on the ops' stream on
// a GPU (so the span is device time, without synchronising), the host clock on the CPU (where ops are
// synchronous). take_work_times() turns the recorded spans into milliseconds per kind; what a step spends
// outside every scope (host gaps, uploads, synchronisation) is its wall time minus their sum.
//
// Not thread safe: ops are issued from one thread.
#pragma once

#include "strand/core/tensor.h"

#include <array>
#include <cstddef>

namespace strand {

enum class WorkKind { gemm, attention, elementwise, optimizer };
inline constexpr size_t kWorkKinds = 4;

// "gemm", "attention", "elementwise", "optimizer": the suffix of the logged metric.
const char* work_kind_name(WorkKind kind);

// Profiling is on while a WorkProfiling made with on=true lives (they do not nest); it clears what was
// recorded when it starts and ends.
class WorkProfiling {
 public:
  explicit WorkProfiling(bool on);
  ~WorkProfiling();
  WorkProfiling(const WorkProfiling&) = delete;
  WorkProfiling& operator=(const WorkProfiling&) = delete;

 private:
  bool on_;
};

// Milliseconds per kind (indexed by WorkKind) recorded since the previous call, which it clears. Waits for
// the GPU to finish the recorded work.
std::array<double, kWorkKinds> take_work_times();

class WorkScope {
 public:
  WorkScope(WorkKind kind, Device device);
  ~WorkScope();
  WorkScope(const WorkScope&) = delete;
  WorkScope& operator=(const WorkScope&) = delete;

 private:
  bool recording_ = false;  // the outermost scope while profiling is on
  bool nested_ = false;     // an inner scope while profiling is on: its time belongs to the outer op
  WorkKind kind_;
  Device device_;
  size_t span_ = 0;      // CUDA: index of this op's event pair
  double start_ms_ = 0;  // CPU: host clock at the start
};

}  // namespace strand
