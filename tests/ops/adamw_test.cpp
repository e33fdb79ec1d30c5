// The multi-tensor optimizer ops (ops/optimizer.h) on the CPU: AdamW against a plain transcription of
// torch.optim.AdamW's update, the global norm in its two parts, the clip factor, and the argument checks.
#include "strand/ops/optimizer.h"

#include "expect_error.h"
#include "gradcheck.h"

#include <omp.h>

#include <cmath>
#include <limits>
#include <vector>

namespace strand {
namespace {

using testing::max_rel_error;
using testing::random_tensor;

// torch.optim.AdamW's step as its documentation writes it, in double, for one tensor:
//   p -= lr * wd * p;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
//   p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
struct ReferenceAdamW {
  std::vector<double> p, m, v;

  explicit ReferenceAdamW(const Tensor& value)
      : p(value.data<double>(), value.data<double>() + value.numel()), m(p.size(), 0.0), v(p.size(), 0.0) {}

  void step(const Tensor& grad, double scale, const AdamWOptions& o, double weight_decay, int t) {
    for (size_t i = 0; i < p.size(); ++i) {
      const double g = grad.data<double>()[i] * scale;
      p[i] -= o.lr * weight_decay * p[i];
      m[i] = o.beta1 * m[i] + (1 - o.beta1) * g;
      v[i] = o.beta2 * v[i] + (1 - o.beta2) * g * g;
      const double m_hat = m[i] / (1 - std::pow(o.beta1, t)), v_hat = v[i] / (1 - std::pow(o.beta2, t));
      p[i] -= o.lr * m_hat / (std::sqrt(v_hat) + o.eps);
    }
  }
};

// A parameter with its gradient and zeroed moments, of `dtype`.
AdamWTensors parameter(const Shape& shape, uint64_t seed, double weight_decay, DType dtype = DType::F64) {
  AdamWTensors t;
  t.value = random_tensor(shape, seed, 1.0, dtype);
  t.grad = random_tensor(shape, seed + 100, 1.0, dtype);
  t.exp_avg = Tensor::zeros(shape, dtype);
  t.exp_avg_sq = Tensor::zeros(shape, dtype);
  t.weight_decay = weight_decay;
  return t;
}

Tensor scalar(double value, DType dtype) {
  Tensor t = Tensor::empty({1}, dtype);
  t.fill(value);
  return t;
}

TEST(AdamW, MultiTensorStepMatchesTorchReference) {
  // Tensors of several sizes and weight decays (one excluded from decay), gradients changing every step and
  // scaled by a clip factor, over enough steps that the bias corrections matter.
  std::vector<AdamWTensors> tensors = {parameter({7, 5}, 1, 0.1), parameter({3}, 2, 0.0),
                                       parameter({1000}, 3, 0.01)};
  std::vector<ReferenceAdamW> reference;
  for (const AdamWTensors& t : tensors) reference.emplace_back(t.value);
  const AdamWGroup group(tensors);
  AdamWOptions o;
  o.lr = 3e-3;
  o.beta1 = 0.9;
  o.beta2 = 0.95;
  o.eps = 1e-8;
  for (int step = 1; step <= 6; ++step) {
    const double scale = step % 2 == 0 ? 0.5 : 1.0;
    for (size_t i = 0; i < tensors.size(); ++i) {
      Tensor(tensors[i].grad).copy_from(random_tensor(tensors[i].grad.shape(), 1000 * step + i));
      reference[i].step(tensors[i].grad, scale, o, tensors[i].weight_decay, step);
    }
    adamw_step(group, o, step, scalar(scale, DType::F64));
    for (size_t i = 0; i < tensors.size(); ++i) {
      for (int64_t k = 0; k < tensors[i].value.numel(); ++k)
        ASSERT_NEAR(tensors[i].value.item(k), reference[i].p[k], 1e-13)
            << "step " << step << " tensor " << i << " element " << k;
    }
  }
}

TEST(AdamW, ConstantGradientMovesBySignTimesLr) {
  // With a constant gradient g, the bias-corrected moments are exactly g and g^2 at every step, so each step
  // is p <- p (1 - lr wd) - lr g / (|g| + eps).
  const double g0[3] = {0.5, -2.0, 1e-3};
  AdamWTensors t = parameter({3}, 1, 0.1);
  std::copy(g0, g0 + 3, t.grad.data<double>());
  t.value.fill(1.0);
  const AdamWGroup group({t});
  AdamWOptions o;
  o.lr = 0.01;
  o.eps = 1e-8;
  double expect[3] = {1.0, 1.0, 1.0};
  for (int step = 1; step <= 5; ++step) {
    adamw_step(group, o, step);
    for (int i = 0; i < 3; ++i) {
      expect[i] = expect[i] * (1 - o.lr * t.weight_decay) - o.lr * g0[i] / (std::abs(g0[i]) + o.eps);
      EXPECT_NEAR(t.value.item(i), expect[i], 1e-14) << "step " << step << " element " << i;
    }
  }
}

TEST(AdamW, TwoStepsWithChangingGradient) {
  // Step 1: g=1 -> m=0.1, v=0.001; corrected 1 and 1. Step 2: g=-1 -> m=0.09-0.1=-0.01,
  // v=0.000999+0.001=0.001999; corrected m = -0.01/0.19, v = 0.001999/0.001999 = 1 (1 - 0.999^2 = 0.001999).
  AdamWTensors t = parameter({1}, 1, 0.0);
  t.value.fill(0.0);
  const AdamWGroup group({t});
  AdamWOptions o;
  o.lr = 0.1;
  o.eps = 0.0;
  t.grad.fill(1.0);
  adamw_step(group, o, 1);
  EXPECT_NEAR(t.value.item(0), -0.1, 1e-15);
  t.grad.fill(-1.0);
  adamw_step(group, o, 2);
  EXPECT_NEAR(t.exp_avg.item(0), -0.01, 1e-15);
  EXPECT_NEAR(t.exp_avg_sq.item(0), 0.001999, 1e-15);
  EXPECT_NEAR(t.value.item(0), -0.1 - 0.1 * (-0.01 / 0.19) / 1.0, 1e-14);
}

TEST(AdamW, Float32MatchesFloat64) {
  const AdamWTensors t64 = parameter({100}, 1, 0.01);
  AdamWTensors t32;
  t32.value = t64.value.to(DType::F32);
  t32.grad = t64.grad.to(DType::F32);
  t32.exp_avg = Tensor::zeros({100}, DType::F32);
  t32.exp_avg_sq = Tensor::zeros({100}, DType::F32);
  t32.weight_decay = t64.weight_decay;
  const AdamWGroup g64({t64}), g32({t32});
  for (int step = 1; step <= 3; ++step) {
    adamw_step(g64, {}, step);
    adamw_step(g32, {}, step);
  }
  EXPECT_LT(max_rel_error(t32.value, t64.value), 1e-6);
}

// The factor scales each gradient as it is read: the same bits as gradients scaled beforehand (the CPU's
// earlier clipping in place), and the gradients themselves are left as they were.
TEST(AdamW, GradScaleEqualsPrescaledGradients) {
  const AdamWTensors a = parameter({257}, 7, 0.1, DType::F32), b = parameter({257}, 7, 0.1, DType::F32);
  const Tensor grad = a.grad.clone();
  const float factor = 0.3711f;
  for (int64_t i = 0; i < b.grad.numel(); ++i) b.grad.data<float>()[i] *= factor;
  adamw_step(AdamWGroup({a}), {}, 1, scalar(factor, DType::F32));
  adamw_step(AdamWGroup({b}), {}, 1);
  EXPECT_TRUE(testing::bitwise_equal(a.value, b.value));
  EXPECT_TRUE(testing::bitwise_equal(a.exp_avg_sq, b.exp_avg_sq));
  EXPECT_TRUE(testing::bitwise_equal(a.grad, grad));
}

TEST(AdamW, SameResultForAnyThreadCount) {
  const int saved = omp_get_max_threads();
  const auto run = [](int threads) {
    omp_set_num_threads(threads);
    const AdamWTensors t = parameter({5000}, 9, 0.1, DType::F32);
    const AdamWGroup group({t});
    for (int step = 1; step <= 3; ++step) adamw_step(group, {}, step);
    return t.value;
  };
  const Tensor one = run(1), many = run(std::max(saved, 4));
  omp_set_num_threads(saved);
  EXPECT_TRUE(testing::bitwise_equal(one, many));
}

TEST(AdamW, ComputeCopiesFollowTheUpdatedValues) {
  AdamWTensors t = parameter({40}, 3, 0.1);
  t.compute = Tensor::zeros({40}, DType::F64);
  adamw_step(AdamWGroup({t}), {}, 1);
  EXPECT_TRUE(testing::bitwise_equal(t.compute, t.value));
}

// The norm in two parts: one running F64 sum over every gradient element in tensor order (the partial that a
// data-parallel optimizer all-reduces), then its root.
TEST(GradNorm, SumOfSquaresThenRoot) {
  const std::vector<AdamWTensors> tensors = {parameter({7, 5}, 1, 0.0, DType::F32),
                                             parameter({3}, 2, 0.0, DType::F32),
                                             parameter({1000}, 3, 0.0, DType::F32)};
  double want = 0;
  for (const AdamWTensors& t : tensors)
    for (int64_t i = 0; i < t.grad.numel(); ++i)
      want += static_cast<double>(t.grad.data<float>()[i]) * t.grad.data<float>()[i];
  const Tensor sum = Tensor::zeros({1}, DType::F64);
  grad_sum_of_squares(sum, AdamWGroup(tensors));
  EXPECT_EQ(sum.item(0), want);
  const Tensor norm64 = Tensor::zeros({1}, DType::F64), norm32 = Tensor::zeros({1}, DType::F32);
  grad_norm(norm64, sum);
  grad_norm(norm32, sum);
  EXPECT_EQ(norm64.item(0), std::sqrt(want));
  EXPECT_EQ(norm32.item(0), static_cast<double>(static_cast<float>(std::sqrt(want))));

  grad_sum_of_squares(sum, AdamWGroup({}));
  EXPECT_EQ(sum.item(0), 0.0);
}

TEST(ClipFactor, ScalesDownToTheLimitOnly) {
  const Tensor factor = Tensor::zeros({1}, DType::F32);
  // Above the limit: the quotient in the norm's F64, rounded once to F32.
  clip_factor(factor, scalar(3.0, DType::F64), 1.0);
  EXPECT_EQ(factor.item(0), static_cast<double>(static_cast<float>(1.0 / 3.0)));
  clip_factor(factor, scalar(0.5, DType::F64), 1.0);
  EXPECT_EQ(factor.item(0), 1.0);
  clip_factor(factor, scalar(1.0, DType::F64), 1.0);  // at the limit: untouched
  EXPECT_EQ(factor.item(0), 1.0);
  clip_factor(factor, scalar(1e6, DType::F64), 0.0);  // 0: no clipping
  EXPECT_EQ(factor.item(0), 1.0);
}

TEST(ClipFactor, NonFiniteNormGivesNaNWithOrWithoutClipping) {
  const Tensor factor = Tensor::zeros({1}, DType::F32);
  for (const double max_norm : {1.0, 0.0}) {
    for (const double norm : {std::nan(""), std::numeric_limits<double>::infinity()}) {
      clip_factor(factor, scalar(norm, DType::F64), max_norm);
      EXPECT_TRUE(std::isnan(factor.item(0))) << "norm " << norm << ", max_norm " << max_norm;
    }
  }
}

TEST(AdamW, NonFiniteGradScaleSkipsTheUpdate) {
  AdamWTensors t = parameter({4}, 3, 0.1);
  t.grad.fill(std::nan(""));
  t.exp_avg.fill(0.25);
  const Tensor value_before = t.value.clone();
  const AdamWGroup group({t});
  adamw_step(group, {}, 1, scalar(std::nan(""), DType::F64));
  for (int64_t i = 0; i < 4; ++i) {
    EXPECT_EQ(t.value.item(i), value_before.item(i));
    EXPECT_EQ(t.exp_avg.item(i), 0.25);
    EXPECT_EQ(t.exp_avg_sq.item(i), 0.0);
  }
}

TEST(AdamW, RejectsBadArguments) {
  AdamWTensors bad_grad = parameter({2}, 1, 0.0);
  bad_grad.grad = Tensor::zeros({3}, DType::F64);
  EXPECT_CONTAINS(testing::error_of([&] {
                    AdamWGroup group({parameter({4}, 2, 0.0), bad_grad});
                  }),
                  "tensors[1].grad must have shape [2]");
  AdamWTensors mixed = parameter({2}, 1, 0.0);
  mixed.exp_avg = Tensor::zeros({2}, DType::F32);
  EXPECT_CONTAINS(testing::error_of([&] { AdamWGroup group({mixed}); }), "tensors[0].exp_avg must be F64");
  EXPECT_CONTAINS(testing::error_of([&] { AdamWGroup group({parameter({2}, 1, -0.1)}); }),
                  "weight_decay must be >= 0");

  const AdamWGroup group({parameter({2}, 1, 0.0)});
  EXPECT_CONTAINS(testing::error_of([&] { adamw_step(group, {}, 0); }), "step counts from 1");
  AdamWOptions bad;
  bad.beta2 = 1.0;
  EXPECT_CONTAINS(testing::error_of([&] { adamw_step(group, bad, 1); }), "betas must lie in [0, 1)");
  EXPECT_CONTAINS(testing::error_of([&] { adamw_step(group, {}, 1, Tensor::zeros({2}, DType::F32)); }),
                  "grad_scale must have shape [1]");
  EXPECT_CONTAINS(testing::error_of([&] { grad_sum_of_squares(Tensor::zeros({1}, DType::F32), group); }),
                  "sum_of_squares must be F64");
  EXPECT_CONTAINS(
      testing::error_of([&] { clip_factor(Tensor::zeros({1}, DType::F32), scalar(1.0, DType::F64), -1.0); }),
      "max_norm must be >= 0");
}

}  // namespace
}  // namespace strand
