#include "strand/ops/linear.h"
#include "strand/ops/embedding.h"

#include "gradcheck.h"

namespace strand {
namespace {

using testing::dot;
using testing::expect_grad_matches;
using testing::max_rel_error;
using testing::random_tensor;

// Plain triple loop, independent of BLAS.
Tensor naive_linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  const int64_t rows = x.size(0), in = x.size(1), out = w.size(0);
  Tensor y = Tensor::empty({rows, out}, DType::F64);
  for (int64_t t = 0; t < rows; ++t)
    for (int64_t n = 0; n < out; ++n) {
      double s = b.defined() ? b.item(n) : 0.0;
      for (int64_t k = 0; k < in; ++k) s += x.item(t * in + k) * w.item(n * in + k);
      y.data<double>()[t * out + n] = s;
    }
  return y;
}

TEST(Linear, ForwardMatchesNaive) {
  Tensor x = random_tensor({7, 5}, 1), w = random_tensor({3, 5}, 2), b = random_tensor({3}, 3);
  Tensor y = Tensor::empty({7, 3}, DType::F64);
  linear_forward(y, x, w, b);
  EXPECT_LT(max_rel_error(y, naive_linear(x, w, b)), 1e-14);
  linear_forward(y, x, w, Tensor());
  EXPECT_LT(max_rel_error(y, naive_linear(x, w, Tensor())), 1e-14);
}

TEST(Linear, Float32AgreesWithFloat64) {
  Tensor x = random_tensor({9, 13}, 4), w = random_tensor({11, 13}, 5), b = random_tensor({11}, 6);
  Tensor y64 = Tensor::empty({9, 11}, DType::F64), y32 = Tensor::empty({9, 11}, DType::F32);
  linear_forward(y64, x, w, b);
  linear_forward(y32, x.to(DType::F32), w.to(DType::F32), b.to(DType::F32));
  EXPECT_LT(max_rel_error(y32, y64), 1e-6);
}

TEST(Linear, BackwardMatchesFiniteDifferences) {
  Tensor x = random_tensor({7, 5}, 11), w = random_tensor({3, 5}, 12), b = random_tensor({3}, 13);
  Tensor r = random_tensor({7, 3}, 14);
  Tensor y = Tensor::empty({7, 3}, DType::F64);
  auto loss = [&] {
    linear_forward(y, x, w, b);
    return dot(y, r);
  };
  Tensor dx = testing::zeros_like(x), dw = testing::zeros_like(w), db = testing::zeros_like(b);
  linear_backward(dx, dw, db, r, x, w, GradWrite::accumulate, GradWrite::accumulate);
  expect_grad_matches("dx", dx, loss, x);
  expect_grad_matches("dw", dw, loss, w);
  expect_grad_matches("db", db, loss, b);
}

TEST(Linear, ParameterGradientsAccumulateInputGradientsAssign) {
  Tensor x = random_tensor({4, 3}, 21), w = random_tensor({2, 3}, 22), dy = random_tensor({4, 2}, 23);
  Tensor dx = random_tensor({4, 3}, 24), dw = testing::zeros_like(w), db = Tensor::zeros({2}, DType::F64);
  linear_backward(dx, dw, db, dy, x, w, GradWrite::accumulate, GradWrite::accumulate);
  const Tensor dx1 = dx.clone(), dw1 = dw.clone(), db1 = db.clone();
  linear_backward(dx, dw, db, dy, x, w, GradWrite::accumulate, GradWrite::accumulate);
  EXPECT_EQ(max_rel_error(dx, dx1), 0.0);  // assigned: stale contents overwritten, same result twice
  for (int64_t i = 0; i < dw.numel(); ++i) EXPECT_DOUBLE_EQ(dw.item(i), 2 * dw1.item(i));
  for (int64_t i = 0; i < db.numel(); ++i) EXPECT_DOUBLE_EQ(db.item(i), 2 * db1.item(i));
  // dx may be skipped.
  linear_backward(Tensor(), dw, Tensor(), dy, x, w, GradWrite::accumulate, GradWrite::accumulate);
}

// GradWrite::assign overwrites stale parameter gradients with exactly what accumulating into zeros gives,
// each gradient as its own argument says; with no rows an assigned gradient becomes zero.
TEST(Linear, AssignedParameterGradientsOverwrite) {
  Tensor x = random_tensor({4, 3}, 21), w = random_tensor({2, 3}, 22), dy = random_tensor({4, 2}, 23);
  Tensor dx = Tensor::empty({4, 3}, DType::F64), dw = testing::zeros_like(w),
         db = Tensor::zeros({2}, DType::F64);
  linear_backward(dx, dw, db, dy, x, w, GradWrite::accumulate, GradWrite::accumulate);
  Tensor stale_dw = random_tensor({2, 3}, 25), stale_db = random_tensor({2}, 26);
  const Tensor kept_db = stale_db.clone();
  linear_backward(dx, stale_dw, stale_db, dy, x, w, GradWrite::assign, GradWrite::accumulate);
  EXPECT_EQ(max_rel_error(stale_dw, dw), 0.0);
  for (int64_t i = 0; i < db.numel(); ++i) EXPECT_EQ(stale_db.item(i), kept_db.item(i) + db.item(i));
  linear_backward(dx, stale_dw, stale_db, dy, x, w, GradWrite::accumulate, GradWrite::assign);
  EXPECT_EQ(max_rel_error(stale_db, db), 0.0);

  const Tensor no_x = Tensor::empty({0, 3}, DType::F64), no_dy = Tensor::empty({0, 2}, DType::F64);
  linear_backward(Tensor(), stale_dw, stale_db, no_dy, no_x, w, GradWrite::assign, GradWrite::assign);
  for (int64_t i = 0; i < dw.numel(); ++i) EXPECT_EQ(stale_dw.item(i), 0.0);
  for (int64_t i = 0; i < db.numel(); ++i) EXPECT_EQ(stale_db.item(i), 0.0);
}

TEST(Linear, RejectsMismatchedShapes) {
  Tensor x = random_tensor({4, 3}, 1), w = random_tensor({2, 5}, 2);
  Tensor y = Tensor::empty({4, 2}, DType::F64);
  EXPECT_THROW(linear_forward(y, x, w, Tensor()), Error);
  EXPECT_THROW(linear_forward(y, x, random_tensor({2, 3}, 3, 1.0, DType::F32), Tensor()), Error);
}

TEST(Embedding, ForwardGathersRows) {
  Tensor table = random_tensor({6, 4}, 31);
  Tensor tokens = Tensor::empty({3}, DType::I32);
  const int32_t ids[3] = {5, 0, 5};
  std::copy(ids, ids + 3, tokens.data<int32_t>());
  Tensor y = Tensor::empty({3, 4}, DType::F64);
  embedding_forward(y, tokens, table);
  for (int t = 0; t < 3; ++t)
    for (int c = 0; c < 4; ++c) EXPECT_EQ(y.item(t * 4 + c), table.item(ids[t] * 4 + c));
}

TEST(Embedding, BackwardMatchesFiniteDifferencesWithRepeatedTokens) {
  Tensor table = random_tensor({6, 5}, 41);
  Tensor tokens = Tensor::empty({7}, DType::I32);
  const int32_t ids[7] = {1, 3, 1, 5, 0, 1, 3};
  std::copy(ids, ids + 7, tokens.data<int32_t>());
  Tensor r = random_tensor({7, 5}, 42);
  Tensor y = Tensor::empty({7, 5}, DType::F64);
  auto loss = [&] {
    embedding_forward(y, tokens, table);
    return dot(y, r);
  };
  Tensor dtable = testing::zeros_like(table);
  embedding_backward(dtable, r, tokens, -1, GradWrite::accumulate);
  expect_grad_matches("dtable", dtable, loss, table);
  // Rows never looked up get no gradient.
  for (int c = 0; c < 5; ++c) EXPECT_EQ(dtable.item(2 * 5 + c), 0.0);
}

TEST(Embedding, PaddingRowGetsNoGradient) {
  Tensor tokens = Tensor::empty({3}, DType::I32);
  const int32_t ids[3] = {1, 2, 1};
  std::copy(ids, ids + 3, tokens.data<int32_t>());
  Tensor dy = random_tensor({3, 4}, 43);
  Tensor dtable = Tensor::zeros({4, 4}, DType::F64);
  embedding_backward(dtable, dy, tokens, /*padding_idx=*/1, GradWrite::accumulate);
  for (int c = 0; c < 4; ++c) {
    EXPECT_EQ(dtable.item(1 * 4 + c), 0.0);
    EXPECT_EQ(dtable.item(2 * 4 + c), dy.item(1 * 4 + c));
  }
}

// An assigned table gradient is the scatter alone: rows no token reaches become zero, however stale.
TEST(Embedding, AssignedTableGradientZeroesRowsNotLookedUp) {
  Tensor tokens = Tensor::empty({3}, DType::I32);
  const int32_t ids[3] = {1, 2, 1};
  std::copy(ids, ids + 3, tokens.data<int32_t>());
  Tensor dy = random_tensor({3, 4}, 44);
  Tensor want = Tensor::zeros({4, 4}, DType::F64);
  embedding_backward(want, dy, tokens, -1, GradWrite::accumulate);
  Tensor dtable = random_tensor({4, 4}, 45);
  embedding_backward(dtable, dy, tokens, -1, GradWrite::assign);
  EXPECT_EQ(max_rel_error(dtable, want), 0.0);
  for (int c = 0; c < 4; ++c) EXPECT_EQ(dtable.item(3 * 4 + c), 0.0);
}

TEST(Embedding, TokenOutsideVocabularyIsAnError) {
  Tensor table = random_tensor({4, 2}, 1);
  Tensor tokens = Tensor::empty({2}, DType::I32);
  tokens.data<int32_t>()[0] = 1;
  tokens.data<int32_t>()[1] = 4;
  Tensor y = Tensor::empty({2, 2}, DType::F64);
  try {
    embedding_forward(y, tokens, table);
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "token 4 at position 1 is outside the vocabulary [0, 4)");
  }
}

}  // namespace
}  // namespace strand
