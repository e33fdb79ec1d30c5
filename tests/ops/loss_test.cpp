#include "strand/ops/loss.h"

#include "gradcheck.h"

#include <cmath>

namespace strand {
namespace {

using testing::expect_grad_matches;
using testing::random_tensor;

constexpr int64_t kRows = 6, kVocab = 5;

Tensor labels_of(std::initializer_list<int32_t> ids) {
  Tensor t = Tensor::empty({static_cast<int64_t>(ids.size())}, DType::I32);
  std::copy(ids.begin(), ids.end(), t.data<int32_t>());
  return t;
}

TEST(CrossEntropy, ForwardMatchesDirectFormula) {
  Tensor z = random_tensor({kRows, kVocab}, 1, 3.0);
  Tensor labels = labels_of({0, 4, kIgnoreIndex, 2, 2, 1});
  Tensor losses = Tensor::empty({kRows}, DType::F64), lse = Tensor::empty({kRows}, DType::F64);
  const LossSums s = cross_entropy_forward(losses, lse, z, labels, Tensor());
  double expect = 0;
  for (int64_t t = 0; t < kRows; ++t) {
    const int32_t l = labels.data<int32_t>()[t];
    if (l == kIgnoreIndex) {
      EXPECT_EQ(losses.item(t), 0.0);
      continue;
    }
    double se = 0;
    for (int64_t v = 0; v < kVocab; ++v) se += std::exp(z.item(t * kVocab + v));
    const double ce = -std::log(std::exp(z.item(t * kVocab + l)) / se);
    EXPECT_NEAR(losses.item(t), ce, 1e-13);
    expect += ce;
  }
  EXPECT_EQ(s.tokens, 5);
  EXPECT_EQ(s.weight_sum, 5.0);
  EXPECT_NEAR(s.loss_sum, expect, 1e-12);
}

TEST(CrossEntropy, StableForHugeLogits) {
  Tensor z = Tensor::empty({1, 3}, DType::F32);
  z.data<float>()[0] = 1000.0f;
  z.data<float>()[1] = -1000.0f;
  z.data<float>()[2] = 999.0f;
  Tensor losses = Tensor::empty({1}, DType::F32), lse = Tensor::empty({1}, DType::F32);
  const LossSums s = cross_entropy_forward(losses, lse, z, labels_of({2}), Tensor());
  EXPECT_NEAR(s.loss_sum, 1.0 + std::log1p(std::exp(-1.0)), 1e-5);
}

TEST(CrossEntropy, BackwardMatchesFiniteDifferencesWithWeightsAndIgnore) {
  Tensor z = random_tensor({kRows, kVocab}, 2, 2.0);
  Tensor labels = labels_of({3, kIgnoreIndex, 0, 4, 4, 1});
  Tensor w = Tensor::empty({kRows}, DType::F64);
  const double weights[kRows] = {1.0, 1.0, 0.5, 0.0, 2.0, 0.1};
  std::copy(weights, weights + kRows, w.data<double>());
  Tensor losses = Tensor::empty({kRows}, DType::F64), lse = Tensor::empty({kRows}, DType::F64);
  // Mean loss with the weight sum held fixed (it does not depend on the logits).
  const double weight_sum = cross_entropy_forward(losses, lse, z, labels, w).weight_sum;
  EXPECT_DOUBLE_EQ(weight_sum, 1.0 + 0.5 + 2.0 + 0.1);
  auto loss = [&] { return cross_entropy_forward(losses, lse, z, labels, w).loss_sum / weight_sum; };
  loss();
  Tensor dz = random_tensor({kRows, kVocab}, 3);  // stale contents must be overwritten
  cross_entropy_backward(dz, z, labels, w, lse, 1.0 / weight_sum);
  expect_grad_matches("dlogits", dz, loss, z);
  for (int64_t v = 0; v < kVocab; ++v) {
    EXPECT_EQ(dz.item(1 * kVocab + v), 0.0);  // ignored
    EXPECT_EQ(dz.item(3 * kVocab + v), 0.0);  // weight 0
  }
}

TEST(CrossEntropy, LabelOutsideVocabularyIsAnError) {
  Tensor z = random_tensor({2, kVocab}, 4);
  Tensor losses = Tensor::empty({2}, DType::F64), lse = Tensor::empty({2}, DType::F64);
  EXPECT_THROW(cross_entropy_forward(losses, lse, z, labels_of({0, 5}), Tensor()), Error);
  EXPECT_THROW(cross_entropy_forward(losses, lse, z, labels_of({-1, 0}), Tensor()), Error);
}

}  // namespace
}  // namespace strand
