// AdamW (train/optimizer.h) on the CPU: deferred zeroing of the gradients, the norm it reports, clipping, and
// the update it makes through the optimizer ops.
#include "strand/train/optimizer.h"

#include "ops/gradcheck.h"
#include "strand/ops/optimizer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <vector>

namespace strand {
namespace {

struct Model {
  std::vector<std::unique_ptr<nn::Parameter>> owned;
  nn::ParameterList params;

  explicit Model(double grad_value) {
    for (const Shape& shape : {Shape{40, 7}, Shape{33}, Shape{5}}) {
      owned.push_back(std::make_unique<nn::Parameter>("p", shape, nn::Placement(DType::F32), true));
      nn::Parameter& p = *owned.back();
      assign(p, testing::random_tensor(shape, owned.size()));
      p.grad.fill(grad_value);
      params.push_back(&p);
    }
  }
};

TEST(AdamWOptimizer, ZeroGradsDefersAndStepZeroesUnwrittenGradients) {
  Model model(1.5);
  AdamWSettings settings;
  settings.weight_decay = 0;
  AdamW optimizer(model.params, settings);
  optimizer.zero_grads();
  for (const nn::Parameter* p : model.params) {
    EXPECT_TRUE(p->grad_pending_zero);
    EXPECT_EQ(p->grad.item(0), 1.5);  // nothing written yet
  }
  const Tensor before = model.params[0]->value.clone();
  optimizer.step(1e-2, 1);
  EXPECT_EQ(optimizer.last_grad_norm(), 0.0);
  for (const nn::Parameter* p : model.params) {
    EXPECT_FALSE(p->grad_pending_zero);
    for (int64_t i = 0; i < p->grad.numel(); ++i) ASSERT_EQ(p->grad.item(i), 0.0) << i;
  }
  // Zero gradients and no decay: AdamW leaves the values as they were.
  EXPECT_TRUE(testing::bitwise_equal(model.params[0]->value, before));

  // An optimizer that goes away zeroes what it left pending.
  model.params[1]->grad.fill(2.5);
  {
    AdamW last(model.params, settings);
    last.zero_grads();
  }
  EXPECT_FALSE(model.params[1]->grad_pending_zero);
  for (int64_t i = 0; i < model.params[1]->grad.numel(); ++i) ASSERT_EQ(model.params[1]->grad.item(i), 0.0);
}

// The step's phases against the ops called by hand: the norm of every gradient, the factor that clips it to
// clip_grad (F64, rounded once to F32), the update with that factor and each parameter's decay.
TEST(AdamWOptimizer, StepClipsByTheGlobalNormThenUpdates) {
  Model model(0.25), copy(0.25);
  AdamWSettings settings;
  settings.clip_grad = 0.5;
  AdamW optimizer(model.params, settings);
  double ss = 0;
  for (const nn::Parameter* p : model.params) ss += static_cast<double>(p->grad.numel()) * 0.25 * 0.25;
  optimizer.step(1e-2, 1);
  EXPECT_DOUBLE_EQ(optimizer.last_grad_norm(), std::sqrt(ss));

  std::vector<AdamWTensors> tensors;
  for (const nn::Parameter* p : copy.params)
    tensors.push_back({p->value, p->grad, Tensor::zeros(p->value.shape(), DType::F32),
                       Tensor::zeros(p->value.shape(), DType::F32), Tensor(), settings.weight_decay});
  Tensor factor = Tensor::empty({1}, DType::F32);
  factor.fill(static_cast<float>(settings.clip_grad / std::sqrt(ss)));
  AdamWOptions o;
  o.lr = 1e-2;
  o.beta1 = settings.beta1;
  o.beta2 = settings.beta2;
  o.eps = settings.eps;
  adamw_step(AdamWGroup(tensors), o, 1, factor);
  for (size_t i = 0; i < model.params.size(); ++i)
    EXPECT_TRUE(testing::bitwise_equal(model.params[i]->value, copy.params[i]->value)) << i;
  for (size_t i = 0; i < model.params.size(); ++i)
    EXPECT_TRUE(testing::bitwise_equal(optimizer.exp_avg()[i], tensors[i].exp_avg)) << i;
}

}  // namespace
}  // namespace strand
