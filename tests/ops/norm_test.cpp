#include "strand/ops/norm.h"

#include "gradcheck.h"

#include <cmath>

namespace strand {
namespace {

using testing::dot;
using testing::expect_grad_matches;
using testing::max_rel_error;
using testing::random_tensor;

constexpr int64_t kRows = 7, kWidth = 9;

TEST(RMSNorm, ForwardMatchesFormula) {
  Tensor x = random_tensor({kRows, kWidth}, 1), w = random_tensor({kWidth}, 2);
  Tensor y = Tensor::empty({kRows, kWidth}, DType::F64), rstd = Tensor::empty({kRows}, DType::F64);
  const double eps = 1e-5;
  rmsnorm_forward(y, rstd, x, w, eps);
  for (int64_t t = 0; t < kRows; ++t) {
    double ss = 0;
    for (int64_t c = 0; c < kWidth; ++c) ss += x.item(t * kWidth + c) * x.item(t * kWidth + c);
    const double r = 1 / std::sqrt(ss / kWidth + eps);
    EXPECT_NEAR(rstd.item(t), r, 1e-14 * r);
    for (int64_t c = 0; c < kWidth; ++c)
      EXPECT_NEAR(y.item(t * kWidth + c), w.item(c) * x.item(t * kWidth + c) * r, 1e-13);
  }
}

TEST(RMSNorm, BackwardMatchesFiniteDifferences) {
  Tensor x = random_tensor({kRows, kWidth}, 3), w = random_tensor({kWidth}, 4),
         r = random_tensor({kRows, kWidth}, 5);
  Tensor y = Tensor::empty({kRows, kWidth}, DType::F64), rstd = Tensor::empty({kRows}, DType::F64);
  auto loss = [&] {
    rmsnorm_forward(y, rstd, x, w, 1e-5);
    return dot(y, r);
  };
  loss();
  Tensor dx = testing::zeros_like(x), dw = testing::zeros_like(w);
  rmsnorm_backward(dx, dw, r, x, w, rstd, Tensor(), GradWrite::accumulate);
  expect_grad_matches("dx", dx, loss, x);
  expect_grad_matches("dw", dw, loss, w);
}

TEST(RMSNorm, Float32AgreesWithFloat64) {
  Tensor x = random_tensor({kRows, 33}, 6), w = random_tensor({33}, 7);
  Tensor y64 = Tensor::empty({kRows, 33}, DType::F64), r64 = Tensor::empty({kRows}, DType::F64);
  Tensor y32 = Tensor::empty({kRows, 33}, DType::F32), r32 = Tensor::empty({kRows}, DType::F32);
  rmsnorm_forward(y64, r64, x, w, 1e-6);
  rmsnorm_forward(y32, r32, x.to(DType::F32), w.to(DType::F32), 1e-6);
  EXPECT_LT(max_rel_error(y32, y64), 1e-6);
}

TEST(LayerNorm, ForwardNormalisesRows) {
  Tensor x = random_tensor({kRows, kWidth}, 11, 3.0);
  Tensor w = Tensor::empty({kWidth}, DType::F64), b = Tensor::empty({kWidth}, DType::F64);
  w.fill(1.0);
  b.fill(0.0);
  Tensor y = Tensor::empty({kRows, kWidth}, DType::F64);
  Tensor mean = Tensor::empty({kRows}, DType::F64), rstd = Tensor::empty({kRows}, DType::F64);
  layernorm_forward(y, mean, rstd, x, w, b, 0.0);
  for (int64_t t = 0; t < kRows; ++t) {
    double s = 0, s2 = 0;
    for (int64_t c = 0; c < kWidth; ++c) {
      s += y.item(t * kWidth + c);
      s2 += y.item(t * kWidth + c) * y.item(t * kWidth + c);
    }
    EXPECT_NEAR(s / kWidth, 0.0, 1e-13);
    EXPECT_NEAR(s2 / kWidth, 1.0, 1e-12);  // biased variance, as torch
  }
}

// With dresidual, x also reaches the loss through a residual connection, L = <LayerNorm(x), r> + <x, q>, and
// the backward given dresidual = q returns the whole dL/dx.
TEST(LayerNorm, BackwardMatchesFiniteDifferences) {
  for (const bool residual : {false, true}) {
    SCOPED_TRACE(residual ? "with dresidual" : "without dresidual");
    Tensor x = random_tensor({kRows, kWidth}, 12), w = random_tensor({kWidth}, 13),
           b = random_tensor({kWidth}, 14);
    Tensor r = random_tensor({kRows, kWidth}, 15);
    Tensor q = residual ? random_tensor({kRows, kWidth}, 16) : Tensor();
    Tensor y = Tensor::empty({kRows, kWidth}, DType::F64);
    Tensor mean = Tensor::empty({kRows}, DType::F64), rstd = Tensor::empty({kRows}, DType::F64);
    auto loss = [&] {
      layernorm_forward(y, mean, rstd, x, w, b, 1e-5);
      return dot(y, r) + (residual ? dot(x, q) : 0.0);
    };
    loss();
    Tensor dx = testing::zeros_like(x), dw = testing::zeros_like(w), db = testing::zeros_like(b);
    layernorm_backward(dx, dw, db, r, x, w, mean, rstd, q, GradWrite::accumulate, GradWrite::accumulate);
    expect_grad_matches("dx", dx, loss, x);
    expect_grad_matches("dw", dw, loss, w);
    expect_grad_matches("db", db, loss, b);
  }
}

TEST(Norms, ParameterGradientsAccumulate) {
  Tensor x = random_tensor({3, 4}, 21), w = random_tensor({4}, 22), dy = random_tensor({3, 4}, 23);
  Tensor y = Tensor::empty({3, 4}, DType::F64), rstd = Tensor::empty({3}, DType::F64);
  rmsnorm_forward(y, rstd, x, w, 1e-5);
  Tensor dw = Tensor::zeros({4}, DType::F64);
  rmsnorm_backward(Tensor(), dw, dy, x, w, rstd, Tensor(), GradWrite::accumulate);
  const Tensor once = dw.clone();
  rmsnorm_backward(Tensor(), dw, dy, x, w, rstd, Tensor(), GradWrite::accumulate);
  for (int i = 0; i < 4; ++i) EXPECT_DOUBLE_EQ(dw.item(i), 2 * once.item(i));
}

// A [3, 4] LayerNorm's forward and its parameter gradients accumulated once into zeros.
struct LayerNormCase {
  Tensor x = random_tensor({3, 4}, 24), w = random_tensor({4}, 25), b = random_tensor({4}, 26),
         dy = random_tensor({3, 4}, 27);
  Tensor y = Tensor::empty({3, 4}, DType::F64);
  Tensor mean = Tensor::empty({3}, DType::F64), rstd = Tensor::empty({3}, DType::F64);
  Tensor dw = Tensor::zeros({4}, DType::F64), db = Tensor::zeros({4}, DType::F64);

  LayerNormCase() {
    layernorm_forward(y, mean, rstd, x, w, b, 1e-5);
    layernorm_backward(Tensor(), dw, db, dy, x, w, mean, rstd, Tensor(), GradWrite::accumulate,
                       GradWrite::accumulate);
  }
};

TEST(Norms, LayerNormParameterGradientsAccumulate) {
  LayerNormCase c;
  auto& [x, w, b, dy, y, mean, rstd, dw, db] = c;
  const Tensor dw_once = dw.clone(), db_once = db.clone();
  layernorm_backward(Tensor(), dw, db, dy, x, w, mean, rstd, Tensor(), GradWrite::accumulate,
                     GradWrite::accumulate);
  for (int i = 0; i < 4; ++i) {
    EXPECT_DOUBLE_EQ(dw.item(i), 2 * dw_once.item(i));
    EXPECT_DOUBLE_EQ(db.item(i), 2 * db_once.item(i));
  }
}

// GradWrite::assign overwrites stale weight and bias gradients with what accumulating into zeros gives; with
// no rows an assigned gradient becomes zero.
TEST(Norms, AssignedParameterGradientsOverwrite) {
  LayerNormCase c;
  auto& [x, w, b, dy, y, mean, rstd, dw, db] = c;
  Tensor stale_dw = random_tensor({4}, 28), stale_db = random_tensor({4}, 29);
  layernorm_backward(Tensor(), stale_dw, stale_db, dy, x, w, mean, rstd, Tensor(), GradWrite::assign,
                     GradWrite::assign);
  EXPECT_EQ(max_rel_error(stale_dw, dw), 0.0);
  EXPECT_EQ(max_rel_error(stale_db, db), 0.0);

  rmsnorm_forward(y, rstd, x, w, 1e-5);
  Tensor rms_dw = Tensor::zeros({4}, DType::F64), stale = random_tensor({4}, 30);
  rmsnorm_backward(Tensor(), rms_dw, dy, x, w, rstd, Tensor(), GradWrite::accumulate);
  rmsnorm_backward(Tensor(), stale, dy, x, w, rstd, Tensor(), GradWrite::assign);
  EXPECT_EQ(max_rel_error(stale, rms_dw), 0.0);

  const Tensor no_rows = Tensor::empty({0, 4}, DType::F64), no_stats = Tensor::empty({0}, DType::F64);
  rmsnorm_backward(Tensor(), stale, no_rows, no_rows, w, no_stats, Tensor(), GradWrite::assign);
  layernorm_backward(Tensor(), stale_dw, stale_db, no_rows, no_rows, w, no_stats, no_stats, Tensor(),
                     GradWrite::assign, GradWrite::assign);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(stale.item(i), 0.0);
    EXPECT_EQ(stale_dw.item(i), 0.0);
    EXPECT_EQ(stale_db.item(i), 0.0);
  }
}

TEST(Norms, DresidualNeedsDx) {
  Tensor x = random_tensor({3, 4}, 28), w = random_tensor({4}, 29), dy = random_tensor({3, 4}, 30);
  Tensor mean = Tensor::zeros({3}, DType::F64), rstd = Tensor::zeros({3}, DType::F64);
  Tensor dw = Tensor::zeros({4}, DType::F64);
  EXPECT_THROW(layernorm_backward(Tensor(), dw, Tensor(), dy, x, w, mean, rstd, dy, GradWrite::accumulate,
                                  GradWrite::accumulate),
               Error);
}

TEST(Norms, RejectWrongWeightShape) {
  Tensor x = random_tensor({3, 4}, 1), w = random_tensor({5}, 2);
  Tensor y = Tensor::empty({3, 4}, DType::F64), rstd = Tensor::empty({3}, DType::F64);
  EXPECT_THROW(rmsnorm_forward(y, rstd, x, w, 1e-5), Error);
}

}  // namespace
}  // namespace strand
