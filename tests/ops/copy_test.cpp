// copy: contiguous tensors in one block, row-strided slices row by row, and nothing outside the slice.
#include "strand/ops/elementwise.h"

#include "gradcheck.h"

#include <gtest/gtest.h>

namespace strand {
namespace {

using testing::bitwise_equal;
using testing::random_tensor;

TEST(Copy, ContiguousTensorsOfAnyRank) {
  for (const Shape& shape : {Shape{17}, Shape{3, 5}, Shape{2, 3, 4}}) {
    const Tensor src = random_tensor(shape, 1);
    Tensor dst = Tensor::zeros(shape, DType::F64);
    copy(dst, src);
    EXPECT_TRUE(bitwise_equal(dst, src)) << shape.str();
  }
}

TEST(Copy, RowStridedSlicesBothWays) {
  const Tensor wide = random_tensor({6, 5, 3}, 2);
  // A slice out of the wide tensor into a contiguous one...
  Tensor packed = Tensor::zeros({6, 2, 3}, DType::F64);
  copy(packed, wide.narrow(1, 1, 2));
  EXPECT_TRUE(bitwise_equal(packed, wide.narrow(1, 1, 2).contiguous()));
  // ...and back into a slice of another wide tensor, leaving the rest of its rows alone.
  Tensor target = Tensor::zeros({6, 5, 3}, DType::F64);
  copy(target.narrow(1, 3, 2), packed);
  EXPECT_TRUE(bitwise_equal(target.narrow(1, 3, 2).contiguous(), packed));
  EXPECT_TRUE(bitwise_equal(target.narrow(1, 0, 3).contiguous(), Tensor::zeros({6, 3, 3}, DType::F64)));
}

TEST(Copy, RejectsGapsInsideRowsAndShapeMismatches) {
  const Tensor wide = random_tensor({4, 6}, 3);
  Tensor dst = Tensor::zeros({2, 6}, DType::F64);
  EXPECT_THROW(copy(dst, wide.transpose(0, 1).narrow(0, 0, 2)), Error);  // columns of wide: gaps in rows
  EXPECT_THROW(copy(dst, wide), Error);
}

}  // namespace
}  // namespace strand
