// The step profiler: op scopes record only while profiling is on, and a scope opened inside another counts
// once, for the outer op's kind.
#include "strand/ops/work_profile.h"
#include "strand/ops/linear.h"

#include <gtest/gtest.h>

namespace strand {
namespace {

constexpr std::array<double, kWorkKinds> kNothing{};

Tensor filled(double value) {
  Tensor t = Tensor::zeros({64, 64}, DType::F32);
  t.fill(value);
  return t;
}

double ms_of(const std::array<double, kWorkKinds>& ms, WorkKind kind) {
  return ms[static_cast<size_t>(kind)];
}

TEST(WorkProfile, RecordsOnlyWhileOn) {
  const Tensor x = filled(1), w = filled(0.5), y = filled(0);
  linear_forward(y, x, w, Tensor());
  {
    const WorkProfiling on(true);
    EXPECT_EQ(take_work_times(), kNothing);  // nothing from before it started
    for (int i = 0; i < 20; ++i) linear_forward(y, x, w, Tensor());
    const auto ms = take_work_times();
    EXPECT_GT(ms_of(ms, WorkKind::gemm), 0);
    EXPECT_EQ(ms_of(ms, WorkKind::elementwise), 0);
    EXPECT_EQ(take_work_times(), kNothing);  // taking clears
  }
  linear_forward(y, x, w, Tensor());
  const WorkProfiling again(true);
  EXPECT_EQ(take_work_times(), kNothing);
}

TEST(WorkProfile, InnerScopesCountForTheOuterKind) {
  const Tensor x = filled(1), w = filled(0.5), y = filled(0);
  const WorkProfiling on(true);
  {
    const WorkScope outer(WorkKind::optimizer, Device::cpu());
    for (int i = 0; i < 20; ++i) linear_forward(y, x, w, Tensor());
  }
  const auto ms = take_work_times();
  EXPECT_GT(ms_of(ms, WorkKind::optimizer), 0);
  EXPECT_EQ(ms_of(ms, WorkKind::gemm), 0);
}

TEST(WorkProfile, ProfilingDoesNotNest) {
  const WorkProfiling on(true);
  EXPECT_THROW(WorkProfiling(true), Error);
  const WorkProfiling off(false);  // one made with on=false changes nothing
  const Tensor x = filled(1), w = filled(0.5), y = filled(0);
  linear_forward(y, x, w, Tensor());
  EXPECT_GT(ms_of(take_work_times(), WorkKind::gemm), 0);
}

}  // namespace
}  // namespace strand
