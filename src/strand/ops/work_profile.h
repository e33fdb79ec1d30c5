// Where a step's time goes: by kind of work (GEMMs, attention, elementwise and norms, optimizer) and by op.
//
// Every op entry point opens a WorkScope naming the op and, where its cost depends on one, its shape. While
// profiling is off (the default) a scope costs one branch. While it is on, the outermost scope of each op
// records the op's span: two CUDA events on the ops' stream on a GPU (so the span is device time, without
// synchronising), the host clock on the CPU (where ops are synchronous). take_work_times() turns the recorded
// spans into milliseconds per kind and per (op, shape); what a step spends outside every scope (host gaps,
// uploads, synchronisation) is its wall time minus their sum.
//
// Not thread safe: ops are issued from one thread.
#pragma once

#include "strand/core/tensor.h"

#include <array>
#include <cstddef>
#include <string>
#include <vector>

namespace strand {

enum class WorkKind { gemm, attention, elementwise, optimizer };
inline constexpr size_t kWorkKinds = 4;

// "gemm", "attention", "elementwise", "optimizer": the suffix of the logged metric.
const char* work_kind_name(WorkKind kind);

// The sizes that set an op's cost: m, n, k of a product (2 m n k FLOPs), rows and columns of a row-wise op;
// zero where unused.
struct OpShape {
  int64_t m = 0, n = 0, k = 0;
  bool operator==(const OpShape&) const = default;
};

// Rows (the first dimension) by the rest of a row-wise op's tensor; zero for an undefined one.
inline OpShape shape_of(const Tensor& t) {
  if (!t.defined() || t.rank() == 0 || t.size(0) == 0) return {};
  return {t.size(0), t.numel() / t.size(0), 0};
}

// "16384x1280x5120", "16384x1280", or "" for an op recorded without a shape.
std::string op_shape_text(const OpShape& shape);

// What one (op, shape) pair cost over the recorded spans.
struct OpTime {
  std::string op;
  OpShape shape;
  WorkKind kind = WorkKind::gemm;
  int64_t calls = 0;
  double ms = 0;
};

struct WorkTimes {
  std::array<double, kWorkKinds> by_kind{};  // indexed by WorkKind
  std::vector<OpTime> by_op;                 // in order of first call
};

// Adds `more` into `into`, matching ops by name and shape.
void merge_work_times(WorkTimes& into, const WorkTimes& more);

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

// What was recorded since the previous call, which it clears. Waits for the GPU to finish the recorded work.
WorkTimes take_work_times();

class WorkScope {
 public:
  // `op` is a string literal: the scope keeps the pointer.
  WorkScope(WorkKind kind, Device device, const char* op, OpShape shape = {});
  ~WorkScope();
  WorkScope(const WorkScope&) = delete;
  WorkScope& operator=(const WorkScope&) = delete;

 private:
  bool recording_ = false;  // the outermost scope while profiling is on
  bool nested_ = false;     // an inner scope while profiling is on: its time belongs to the outer op
  WorkKind kind_;
  Device device_;
  const char* op_;
  OpShape shape_;
  size_t span_ = 0;      // CUDA: index of this op's event pair
  double start_ms_ = 0;  // CPU: host clock at the start
};

}  // namespace strand
