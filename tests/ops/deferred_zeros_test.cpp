// The bookkeeping of deferred gradient zeroing (ops/deferred_zeros.h), on host tensors: which writes may
// assign, which pending bytes are zeroed when, and what stays pending.
#include "strand/ops/deferred_zeros.h"
#include "expect_error.h"

#include <gtest/gtest.h>

namespace strand {
namespace {

// A [6, 4] F32 tensor holding 1, 2, ..., like a gradient left over from the last step.
Tensor stale() {
  Tensor t = Tensor::zeros({6, 4}, DType::F32);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(i + 1);
  return t;
}

// Whether rows [begin, end) of t are all zero, and the others all non-zero (stale() holds no zero).
bool zero_exactly_in_rows(const Tensor& t, int64_t begin, int64_t end) {
  for (int64_t r = 0; r < t.size(0); ++r) {
    for (int64_t c = 0; c < t.size(1); ++c) {
      const bool zero = t.data<float>()[r * t.size(1) + c] == 0.0f;
      if (zero != (r >= begin && r < end)) return false;
    }
  }
  return true;
}

class DeferredZeros : public ::testing::Test {
 protected:
  void TearDown() override { flush_deferred_zeros(); }  // no test leaves regions to the next
};

TEST_F(DeferredZeros, AWholePendingGradientIsAssignedWithoutBeingZeroed) {
  const Tensor g = stale();
  defer_zero(g);
  EXPECT_EQ(deferred_zero_bytes(), g.nbytes());
  EXPECT_FALSE(accumulate_into(g, true));
  EXPECT_EQ(deferred_zero_bytes(), 0u);
  EXPECT_TRUE(zero_exactly_in_rows(g, 0, 0));  // the op overwrites it; nothing was spent zeroing
  EXPECT_TRUE(accumulate_into(g, true));       // claimed once: the next write accumulates
}

TEST_F(DeferredZeros, AFusedGradientIsAssignedWhenEveryPartIsPending) {
  const Tensor fused = stale();
  for (int64_t begin : {0, 2, 4}) defer_zero(fused.narrow(0, begin, 2));  // q, k and v rows
  EXPECT_FALSE(accumulate_into(fused, true));
  EXPECT_EQ(deferred_zero_bytes(), 0u);
}

TEST_F(DeferredZeros, PartlyPendingGradientIsZeroedWherePendingThenAccumulated) {
  const Tensor fused = stale();
  defer_zero(fused.narrow(0, 0, 2));
  defer_zero(fused.narrow(0, 4, 2));
  const Tensor elsewhere = stale();
  defer_zero(elsewhere);
  EXPECT_TRUE(accumulate_into(fused, true));
  EXPECT_EQ(fused.data<float>()[0], 0.0f);
  EXPECT_EQ(fused.data<float>()[2 * 4], 9.0f);  // row 2 was not pending: it keeps its value
  EXPECT_EQ(fused.data<float>()[4 * 4], 0.0f);
  EXPECT_EQ(deferred_zero_bytes(), elsewhere.nbytes());  // an unrelated region stays pending
}

TEST_F(DeferredZeros, APendingRegionReachingBeyondTheWriteIsZeroedWhole) {
  const Tensor g = stale();
  defer_zero(g);
  EXPECT_TRUE(accumulate_into(g.narrow(0, 2, 2), true));
  EXPECT_TRUE(zero_exactly_in_rows(g, 0, 6));
  EXPECT_EQ(deferred_zero_bytes(), 0u);
}

TEST_F(DeferredZeros, APartialWriterGetsZerosToAccumulateInto) {
  const Tensor table = stale();
  defer_zero(table);
  EXPECT_TRUE(accumulate_into(table, false));
  EXPECT_TRUE(zero_exactly_in_rows(table, 0, 6));
  EXPECT_EQ(deferred_zero_bytes(), 0u);
}

TEST_F(DeferredZeros, AnUntouchedGradientIsAccumulatedInto) {
  const Tensor pending = stale(), other = stale();
  defer_zero(pending);
  EXPECT_TRUE(accumulate_into(other, true));
  EXPECT_TRUE(zero_exactly_in_rows(other, 0, 0));
  EXPECT_EQ(deferred_zero_bytes(), pending.nbytes());
}

TEST_F(DeferredZeros, DeferringTwiceMergesAndZeroesPartialOverlapsOnly) {
  const Tensor g = stale();
  defer_zero(g.narrow(0, 0, 2));
  defer_zero(g);  // contains the first region: merged, nothing written
  EXPECT_EQ(deferred_zero_bytes(), g.nbytes());
  EXPECT_TRUE(zero_exactly_in_rows(g, 0, 0));
  defer_zero(g.narrow(0, 1, 2));  // inside the pending g only in part: g is zeroed, the rows stay pending
  EXPECT_TRUE(zero_exactly_in_rows(g, 0, 6));
  EXPECT_EQ(deferred_zero_bytes(), g.narrow(0, 1, 2).nbytes());
}

TEST_F(DeferredZeros, FlushZeroesWhatIsStillPending) {
  const Tensor written = stale(), unreached = stale();
  defer_zero(written);
  defer_zero(unreached);
  EXPECT_FALSE(accumulate_into(written, true));
  flush_deferred_zeros();
  EXPECT_EQ(deferred_zero_bytes(), 0u);
  EXPECT_TRUE(zero_exactly_in_rows(unreached, 0, 6));
  EXPECT_TRUE(zero_exactly_in_rows(written, 0, 0));
}

TEST_F(DeferredZeros, StridedTensorsAreRefused) {
  const Tensor g = stale();
  EXPECT_CONTAINS(testing::error_of([&] { defer_zero(g.narrow(1, 0, 2)); }),
                  "defer_zero: needs a defined contiguous tensor");
  EXPECT_CONTAINS(testing::error_of([&] { accumulate_into(g.narrow(1, 1, 2), true); }),
                  "accumulate_into: needs a defined contiguous tensor");
}

}  // namespace
}  // namespace strand
