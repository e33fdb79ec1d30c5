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

double ms_of(const WorkTimes& t, WorkKind kind) {
  return t.by_kind[static_cast<size_t>(kind)];
}

TEST(WorkProfile, RecordsOnlyWhileOn) {
  const Tensor x = filled(1), w = filled(0.5), y = filled(0);
  linear_forward(y, x, w, Tensor());
  {
    const WorkProfiling on(true);
    EXPECT_EQ(take_work_times().by_kind, kNothing);  // nothing from before it started
    for (int i = 0; i < 20; ++i) linear_forward(y, x, w, Tensor());
    const auto ms = take_work_times();
    EXPECT_GT(ms_of(ms, WorkKind::gemm), 0);
    EXPECT_EQ(ms_of(ms, WorkKind::elementwise), 0);
    EXPECT_EQ(take_work_times().by_kind, kNothing);  // taking clears
  }
  linear_forward(y, x, w, Tensor());
  const WorkProfiling again(true);
  EXPECT_EQ(take_work_times().by_kind, kNothing);
}

TEST(WorkProfile, InnerScopesCountForTheOuterKind) {
  const Tensor x = filled(1), w = filled(0.5), y = filled(0);
  const WorkProfiling on(true);
  {
    const WorkScope outer(WorkKind::optimizer, Device::cpu(), "outer");
    for (int i = 0; i < 20; ++i) linear_forward(y, x, w, Tensor());
  }
  const auto ms = take_work_times();
  EXPECT_GT(ms_of(ms, WorkKind::optimizer), 0);
  EXPECT_EQ(ms_of(ms, WorkKind::gemm), 0);
  ASSERT_EQ(ms.by_op.size(), 1u);
  EXPECT_EQ(ms.by_op[0].op, "outer");
}

// Calls of one op with one shape add up in one row; another shape gets its own, and a product's row reports
// its TFLOP/s.
TEST(WorkProfile, TimesOpsByNameAndShape) {
  const Tensor x = filled(1), w = filled(0.5), y = filled(0);
  const Tensor x_wide = Tensor::zeros({64, 32}, DType::F32), w_wide = Tensor::zeros({64, 32}, DType::F32);
  const WorkProfiling on(true);
  for (int i = 0; i < 3; ++i) linear_forward(y, x, w, Tensor());
  linear_forward(y, x_wide, w_wide, Tensor());
  WorkTimes total;
  merge_work_times(total, take_work_times());
  linear_forward(y, x, w, Tensor());
  merge_work_times(total, take_work_times());
  ASSERT_EQ(total.by_op.size(), 2u);
  EXPECT_EQ(total.by_op[0].op, "linear_forward");
  EXPECT_EQ(total.by_op[0].shape, (OpShape{64, 64, 64}));
  EXPECT_EQ(total.by_op[0].calls, 4);
  EXPECT_EQ(total.by_op[1].shape, (OpShape{64, 64, 32}));
  EXPECT_EQ(total.by_op[1].calls, 1);
  EXPECT_EQ(op_shape_text(total.by_op[1].shape), "64x64x32");
  EXPECT_GT(ms_of(total, WorkKind::gemm), 0);
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
