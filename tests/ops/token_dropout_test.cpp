// ESM-2 token dropout: the per-token factors of a packed batch against hand-computed values (masks, pads, a
// sequence of mask and pad only, an empty one, an all-pad tail), and scale_rows against its formula, in
// place, and by finite differences.
#include "strand/ops/token_dropout.h"

#include "expect_error.h"
#include "ops/gradcheck.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

namespace strand {
namespace {

using testing::dot;
using testing::expect_grad_matches;
using testing::random_tensor;

constexpr int32_t kMask = 32, kPad = 1;  // ESM-2's vocabulary: <cls> 0, <pad> 1, <eos> 2, <mask> 32

Tensor i32(const std::vector<int32_t>& values) {
  Tensor t = Tensor::empty({static_cast<int64_t>(values.size())}, DType::I32);
  std::memcpy(t.data<int32_t>(), values.data(), values.size() * sizeof(int32_t));
  return t;
}

// Six packed sequences:
//   0: 6 tokens, 2 masks          -> 0.88 / (1 - 2/6) = 1.32
//   1: 4 tokens, 1 mask, 2 pads   -> 0.88 / (1 - 1/4) = 1.17333...
//   2: 3 tokens, no mask          -> 0.88
//   3: empty
//   4: a mask and a pad only      -> all 0, though n_mask == n_tokens
//   5: pads only (the tail)       -> all 0, though n_tokens == 0
struct Batch {
  Tensor tokens = i32({0,     5,    kMask, 6, kMask, 2,     //
                       0,     7,    kMask, 2, kPad,  kPad,  //
                       0,     4,    2,                      //
                       kMask, kPad,                         //
                       kPad,  kPad, kPad});
  Tensor cu_seqlens = i32({0, 6, 12, 15, 15, 17, 20});
  std::vector<double> factors() const {
    const double a = 0.88 / (1.0 - 2.0 / 6.0), b = 0.88 / (1.0 - 1.0 / 4.0), c = 0.88;
    return {a, a, 0, a, 0, a,  //
            b, b, 0, b, 0, 0,  //
            c, c, c,           //
            0, 0,              //
            0, 0, 0};
  }
};

TEST(TokenDropout, FactorsMatchHandComputedValues) {
  const Batch batch;
  const std::vector<double> want = batch.factors();
  EXPECT_NEAR(want[0], 1.32, 1e-15);
  EXPECT_NEAR(want[6], 0.88 / 0.75, 1e-15);
  for (const DType dtype : {DType::F64, DType::F32}) {
    SCOPED_TRACE(dtype_name(dtype));
    Tensor scales = Tensor::empty({batch.tokens.numel()}, dtype);
    scales.fill(NAN);
    token_dropout_scales(scales, batch.tokens, batch.cu_seqlens, kMask, kPad);
    for (int64_t t = 0; t < scales.numel(); ++t) {
      // F32 holds the double factor rounded once.
      const double expected = dtype == DType::F32 ? static_cast<float>(want[t]) : want[t];
      EXPECT_DOUBLE_EQ(scales.item(t), expected) << "token " << t;
    }
  }
}

TEST(TokenDropout, MaskRatioIsAParameter) {
  const Batch batch;
  Tensor scales = Tensor::empty({batch.tokens.numel()}, DType::F64);
  token_dropout_scales(scales, batch.tokens, batch.cu_seqlens, kMask, kPad, 0.0);
  EXPECT_DOUBLE_EQ(scales.item(0), 1.5);   // 1 / (1 - 2/6)
  EXPECT_DOUBLE_EQ(scales.item(12), 1.0);  // no mask: unscaled
  EXPECT_DOUBLE_EQ(scales.item(2), 0.0);   // a mask
}

TEST(TokenDropout, RejectsBadArguments) {
  const Batch batch;
  Tensor scales = Tensor::empty({batch.tokens.numel()}, DType::F32);
  EXPECT_CONTAINS(testing::error_of([&] {
                    token_dropout_scales(scales, batch.tokens, i32({0, 6, 12, 19}), kMask, kPad);
                  }),
                  "cu_seqlens ends at 19");
  EXPECT_CONTAINS(testing::error_of([&] {
                    token_dropout_scales(scales, batch.tokens, i32({0, 12, 6, 20}), kMask, kPad);
                  }),
                  "non-decreasing");
  EXPECT_CONTAINS(
      testing::error_of([&] { token_dropout_scales(scales, batch.tokens, batch.cu_seqlens, kMask, kMask); }),
      "mask_id and pad_id must differ");
  EXPECT_CONTAINS(testing::error_of([&] {
                    token_dropout_scales(scales, batch.tokens, batch.cu_seqlens, kMask, kPad, 1.0);
                  }),
                  "mask_ratio_train");
  EXPECT_CONTAINS(testing::error_of([&] {
                    token_dropout_scales(Tensor::empty({19}, DType::F32), batch.tokens, batch.cu_seqlens,
                                         kMask, kPad);
                  }),
                  "scales");
}

// The ESM-2 use: the embeddings scaled in place by the factors.
TEST(ScaleRows, ScalesEachRowInPlaceOrNot) {
  const Batch batch;
  const int64_t tokens = batch.tokens.numel(), width = 5;
  Tensor scales = Tensor::empty({tokens}, DType::F64);
  token_dropout_scales(scales, batch.tokens, batch.cu_seqlens, kMask, kPad);
  const Tensor x = random_tensor({tokens, width}, 1);
  Tensor y = Tensor::empty({tokens, width}, DType::F64);
  y.fill(NAN);
  scale_rows(y, x, scales);
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t c = 0; c < width; ++c)
      EXPECT_DOUBLE_EQ(y.item(t * width + c), x.item(t * width + c) * scales.item(t));
  Tensor in_place = x.clone();
  scale_rows(in_place, in_place, scales);
  EXPECT_EQ(std::memcmp(in_place.raw(), y.raw(), y.nbytes()), 0);
}

TEST(ScaleRows, BackwardIsItselfByFiniteDifferences) {
  constexpr int64_t kTokens = 7, kWidth = 9;
  const Tensor x = random_tensor({kTokens, kWidth}, 2), scales = random_tensor({kTokens}, 3);
  const Tensor r = random_tensor({kTokens, kWidth}, 4);
  Tensor y = Tensor::empty({kTokens, kWidth}, DType::F64);
  auto loss = [&] {
    scale_rows(y, x, scales);
    return dot(y, r);
  };
  Tensor dx = Tensor::empty({kTokens, kWidth}, DType::F64);
  scale_rows(dx, r, scales);
  expect_grad_matches("dx", dx, loss, x);
}

TEST(ScaleRows, RejectsMismatchedScales) {
  const Tensor x = random_tensor({4, 3}, 5);
  Tensor y = Tensor::empty({4, 3}, DType::F64);
  EXPECT_CONTAINS(testing::error_of([&] { scale_rows(y, x, random_tensor({3}, 6)); }), "scales");
  EXPECT_CONTAINS(testing::error_of([&] { scale_rows(y, x, random_tensor({4}, 6, 1.0, DType::F32)); }),
                  "scales");
}

}  // namespace
}  // namespace strand
