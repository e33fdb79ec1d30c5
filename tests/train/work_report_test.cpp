// The profile report: rows largest first, per-step figures, and TFLOP/s for products only.
#include "strand/train/work_report.h"

#include <gtest/gtest.h>

namespace strand {
namespace {

WorkTimes two_steps() {
  WorkTimes t;
  // Two steps of 10 ms each: a forward product of 2*1000*2000*500 = 2e9 FLOPs per call, two calls per step
  // in 1 ms each (2 TFLOP/s); a backward product with dx counts twice the FLOPs; a norm has no rate.
  t.by_op.push_back({"linear_forward", {1000, 2000, 500}, WorkKind::gemm, 4, 4.0});
  t.by_op.push_back({"layernorm_forward", {1000, 2000, 0}, WorkKind::elementwise, 2, 1.0});
  t.by_op.push_back({"linear_backward", {1000, 2000, 500}, WorkKind::gemm, 2, 8.0});
  return t;
}

TEST(WorkReport, TsvRowsLargestFirstWithRates) {
  EXPECT_EQ(work_report_tsv(two_steps(), 2, 0.020),
            "op\tshape\tkind\tcalls_per_step\tms_per_step\tshare\ttflops\n"
            "linear_backward\t1000x2000x500\tgemm\t1.00\t4.0000\t0.4000\t1\n"
            "linear_forward\t1000x2000x500\tgemm\t2.00\t2.0000\t0.2000\t2\n"
            "layernorm_forward\t1000x2000\telementwise\t1.00\t0.5000\t0.0500\t\n");
}

TEST(WorkReport, TableFoldsTheTailAndEndsWithTheUntimedRest) {
  const std::string table = work_report_table(two_steps(), 2, 0.020, 2);
  EXPECT_NE(table.find("linear_backward"), std::string::npos);
  EXPECT_EQ(table.find("layernorm_forward"), std::string::npos);
  EXPECT_NE(table.find("(1 more ops)"), std::string::npos);
  // 10 ms per step, 6.5 of them inside ops.
  EXPECT_NE(table.find("(outside every op)"), std::string::npos);
  EXPECT_NE(table.find("3.50  35.0%"), std::string::npos) << table;
}

}  // namespace
}  // namespace strand
