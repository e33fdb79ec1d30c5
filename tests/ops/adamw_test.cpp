#include "strand/ops/adamw.h"

#include "gradcheck.h"

#include <cmath>

namespace strand {
namespace {

// AdamW has no backward; it is checked against closed forms that follow from its definition.

TEST(AdamW, ConstantGradientMovesBySignTimesLr) {
  // With a constant gradient g, the bias-corrected moments are exactly g and g^2 at every step, so each step
  // is p <- p (1 - lr wd) - lr g / (|g| + eps).
  const double g0[3] = {0.5, -2.0, 1e-3};
  Tensor p = Tensor::empty({3}, DType::F64), g = Tensor::empty({3}, DType::F64);
  std::copy(g0, g0 + 3, g.data<double>());
  p.fill(1.0);
  Tensor m = Tensor::zeros({3}, DType::F64), v = Tensor::zeros({3}, DType::F64);
  AdamWOptions o;
  o.lr = 0.01;
  o.weight_decay = 0.1;
  o.eps = 1e-8;
  double expect[3] = {1.0, 1.0, 1.0};
  for (int step = 1; step <= 5; ++step) {
    adamw_step(p, g, m, v, o, step);
    for (int i = 0; i < 3; ++i) {
      expect[i] = expect[i] * (1 - o.lr * o.weight_decay) - o.lr * g0[i] / (std::abs(g0[i]) + o.eps);
      EXPECT_NEAR(p.item(i), expect[i], 1e-14) << "step " << step << " element " << i;
    }
  }
}

TEST(AdamW, TwoStepsWithChangingGradient) {
  // Step 1: g=1 -> m=0.1, v=0.001; corrected 1 and 1. Step 2: g=-1 -> m=0.09-0.1=-0.01,
  // v=0.000999+0.001=0.001999; corrected m = -0.01/0.19, v = 0.001999/0.001999 = 1 (1 - 0.999^2 = 0.001999).
  Tensor p = Tensor::zeros({1}, DType::F64), g = Tensor::empty({1}, DType::F64);
  Tensor m = Tensor::zeros({1}, DType::F64), v = Tensor::zeros({1}, DType::F64);
  AdamWOptions o;
  o.lr = 0.1;
  o.eps = 0.0;
  g.fill(1.0);
  adamw_step(p, g, m, v, o, 1);
  EXPECT_NEAR(p.item(0), -0.1, 1e-15);
  g.fill(-1.0);
  adamw_step(p, g, m, v, o, 2);
  EXPECT_NEAR(m.item(0), -0.01, 1e-15);
  EXPECT_NEAR(v.item(0), 0.001999, 1e-15);
  EXPECT_NEAR(p.item(0), -0.1 - 0.1 * (-0.01 / 0.19) / 1.0, 1e-14);
}

TEST(AdamW, Float32MatchesFloat64) {
  Tensor p64 = testing::random_tensor({100}, 1), g = testing::random_tensor({100}, 2);
  Tensor p32 = p64.to(DType::F32), g32 = g.to(DType::F32);
  Tensor m64 = Tensor::zeros({100}, DType::F64), v64 = Tensor::zeros({100}, DType::F64);
  Tensor m32 = Tensor::zeros({100}, DType::F32), v32 = Tensor::zeros({100}, DType::F32);
  AdamWOptions o;
  o.weight_decay = 0.01;
  for (int step = 1; step <= 3; ++step) {
    adamw_step(p64, g, m64, v64, o, step);
    adamw_step(p32, g32, m32, v32, o, step);
  }
  EXPECT_LT(testing::max_rel_error(p32, p64), 1e-6);
}

TEST(AdamW, RejectsBadArguments) {
  Tensor p = Tensor::zeros({2}, DType::F32), g = Tensor::zeros({3}, DType::F32);
  Tensor m = Tensor::zeros({2}, DType::F32), v = Tensor::zeros({2}, DType::F32);
  EXPECT_THROW(adamw_step(p, g, m, v, {}, 1), Error);
  EXPECT_THROW(adamw_step(p, m, m, v, {}, 0), Error);
  AdamWOptions bad;
  bad.beta2 = 1.0;
  EXPECT_THROW(adamw_step(p, m, m, v, bad, 1), Error);
}

}  // namespace
}  // namespace strand
