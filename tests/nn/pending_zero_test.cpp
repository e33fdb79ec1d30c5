// Explicit gradient accumulation (nn/parameter.h, Note [Pending zero]) on host tensors: which writes assign,
// which pending gradients are zeroed when, what stays pending, and that modules (a fused projection, an
// embedding table, an LM head tied to the embedding) end with the gradients that accumulating into zeros
// gives.
#include "ops/gradcheck.h"
#include "strand/nn/embedding.h"
#include "strand/nn/fused_linear.h"
#include "strand/nn/linear.h"
#include "strand/nn/parameter.h"

#include <gtest/gtest.h>

#include <vector>

namespace strand::nn {
namespace {

using testing::bitwise_equal;
using testing::random_tensor;

// t's elements set to 1, 2, ..., like a gradient left over from the last step (no element is zero).
void make_stale(const Tensor& t) {
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(i + 1);
}

bool all_zero(const Tensor& t) {
  for (int64_t i = 0; i < t.numel(); ++i)
    if (t.data<float>()[i] != 0.0f) return false;
  return true;
}

bool none_zero(const Tensor& t) {
  for (int64_t i = 0; i < t.numel(); ++i)
    if (t.data<float>()[i] == 0.0f) return false;
  return true;
}

Parameter stale_parameter(const char* name, const Shape& shape) {
  Parameter p(name, shape, Placement(DType::F32), true);
  make_stale(p.grad);
  return p;
}

// Three parameters over rows of one [6, 4] gradient buffer, as a fused q/k/v projection's weights are.
struct FusedParts {
  Tensor value = Tensor::zeros({6, 4}, DType::F32), grad = Tensor::zeros({6, 4}, DType::F32);
  std::vector<Parameter> parts;
  FusedParts() {
    make_stale(grad);
    parts.reserve(3);
    for (int64_t begin : {0, 2, 4})
      parts.emplace_back("part", value.narrow(0, begin, 2), grad.narrow(0, begin, 2), Tensor(), true);
  }
  std::vector<Parameter*> pointers() { return {&parts[0], &parts[1], &parts[2]}; }
};

TEST(PendingZero, AWholePendingGradientIsAssignedWithoutBeingZeroed) {
  Parameter p = stale_parameter("w", {6, 4});
  defer_zero_grads({&p});
  EXPECT_TRUE(p.grad_pending_zero);
  EXPECT_EQ(claim_grad(p), GradWrite::assign);
  EXPECT_FALSE(p.grad_pending_zero);
  EXPECT_TRUE(none_zero(p.grad));                   // the op overwrites it; nothing was spent zeroing
  EXPECT_EQ(claim_grad(p), GradWrite::accumulate);  // claimed once: the next write accumulates
}

TEST(PendingZero, AnUntouchedGradientIsAccumulatedInto) {
  Parameter pending = stale_parameter("pending", {6, 4}), other = stale_parameter("other", {6, 4});
  defer_zero_grads({&pending});
  EXPECT_EQ(claim_grad(other), GradWrite::accumulate);
  EXPECT_TRUE(none_zero(other.grad));
  EXPECT_TRUE(pending.grad_pending_zero);  // another parameter's claim leaves it pending
}

TEST(PendingZero, AFusedGradientIsAssignedWhenEveryPartIsPending) {
  FusedParts fused;
  defer_zero_grads(fused.pointers());
  EXPECT_EQ(claim_grads(fused.pointers()), GradWrite::assign);
  for (const Parameter& p : fused.parts) EXPECT_FALSE(p.grad_pending_zero);
  EXPECT_TRUE(none_zero(fused.grad));
}

TEST(PendingZero, PartlyPendingGradientIsZeroedWherePendingThenAccumulated) {
  FusedParts fused;
  Parameter elsewhere = stale_parameter("elsewhere", {6, 4});
  defer_zero_grads({&fused.parts[0], &fused.parts[2], &elsewhere});
  EXPECT_EQ(claim_grads(fused.pointers()), GradWrite::accumulate);
  EXPECT_TRUE(all_zero(fused.parts[0].grad));
  EXPECT_TRUE(none_zero(fused.parts[1].grad));  // not pending: it keeps its value
  EXPECT_TRUE(all_zero(fused.parts[2].grad));
  for (const Parameter& p : fused.parts) EXPECT_FALSE(p.grad_pending_zero);
  EXPECT_TRUE(elsewhere.grad_pending_zero);  // an unrelated parameter stays pending
  EXPECT_TRUE(none_zero(elsewhere.grad));
}

TEST(PendingZero, FlushZeroesWhatIsStillPending) {
  Parameter written = stale_parameter("written", {6, 4}), unreached = stale_parameter("unreached", {6, 4});
  defer_zero_grads({&written, &unreached});
  EXPECT_EQ(claim_grad(written), GradWrite::assign);
  flush_pending_zero_grads({&written, &unreached});
  EXPECT_FALSE(unreached.grad_pending_zero);
  EXPECT_TRUE(all_zero(unreached.grad));
  EXPECT_TRUE(none_zero(written.grad));  // claimed: the flush leaves it to the op that claimed it
}

TEST(PendingZero, ZeroGradsWritesZerosAndLeavesNothingPending) {
  Parameter p = stale_parameter("w", {6, 4});
  defer_zero_grads({&p});
  zero_grads({&p});
  EXPECT_FALSE(p.grad_pending_zero);
  EXPECT_TRUE(all_zero(p.grad));
}

// The gradients of one backward pass of `run` twice: over zeroed gradients that it accumulates into, and
// over stale gradients marked pending zero. Both must give the same bits.
template <typename Run>
void expect_pending_matches_zeroed(const ParameterList& params, Run&& run) {
  zero_grads(params);
  run();
  std::vector<Tensor> want;
  for (const Parameter* p : params) want.push_back(p->grad.clone());
  for (const Parameter* p : params) make_stale(p->grad);
  defer_zero_grads(params);
  run();
  flush_pending_zero_grads(params);
  for (size_t i = 0; i < params.size(); ++i)
    EXPECT_TRUE(bitwise_equal(params[i]->grad, want[i])) << params[i]->name;
}

TEST(PendingZero, FusedLinearAssignsItsSharedBuffer) {
  FusedLinear fused({{"q", 4}, {"k", 2}, {"v", 2}}, 6, true, Placement(DType::F32));
  ParameterList params;
  fused.collect(params);
  for (size_t i = 0; i < params.size(); ++i)
    assign(*params[i], random_tensor(params[i]->value.shape(), 10 + i));
  Arena arena(size_t{1} << 16, Device::cpu());
  const Tensor x = random_tensor({9, 6}, 1, 1.0, DType::F32), dy = random_tensor({9, 8}, 2, 1.0, DType::F32);
  const auto run = [&] {
    arena.reset();
    fused.forward(arena, x);
    fused.backward(arena, dy);
  };
  expect_pending_matches_zeroed(params, run);

  // Only the k weight pending: it is zeroed, and the others (holding a backward's gradient) accumulate.
  zero_grads(params);
  run();
  std::vector<Tensor> once;
  for (const Parameter* p : params) once.push_back(p->grad.clone());
  make_stale(params[2]->grad);
  defer_zero_grads({params[2]});
  run();
  for (size_t i = 0; i < params.size(); ++i) {
    for (int64_t k = 0; k < once[i].numel(); ++k) {
      const float want = i == 2 ? once[i].data<float>()[k] : once[i].data<float>()[k] * 2;
      ASSERT_EQ(params[i]->grad.data<float>()[k], want) << params[i]->name << " at " << k;
    }
  }
}

TEST(PendingZero, EmbeddingTableIsZeroedThenScattered) {
  Embedding embedding("embed", 9, 5, -1, Placement(DType::F32));
  embedding.init(1, 0, 1.0);
  ParameterList params;
  embedding.collect(params);
  Tensor tokens = Tensor::empty({7}, DType::I32);
  const int32_t ids[7] = {1, 3, 1, 5, 0, 1, 3};  // rows 2, 4, 6, 7, 8 get no gradient
  std::copy(ids, ids + 7, tokens.data<int32_t>());
  Arena arena(size_t{1} << 16, Device::cpu());
  const Tensor dy = random_tensor({7, 5}, 2, 1.0, DType::F32);
  expect_pending_matches_zeroed(params, [&] {
    arena.reset();
    embedding.forward(arena, tokens);
    embedding.backward(dy);
  });
  EXPECT_TRUE(all_zero(params[0]->grad.narrow(0, 6, 3)));
}

// An LM head tied to the embedding: the head's backward runs first and assigns the shared gradient, the
// embedding's then adds its scatter.
TEST(PendingZero, TiedWeightIsAssignedByTheFirstUserAndAccumulatedByTheSecond) {
  Embedding embedding("embed", 9, 5, -1, Placement(DType::F32));
  embedding.init(1, 0, 1.0);
  Linear head(embedding.weight());
  ParameterList params;
  embedding.collect(params);
  Tensor tokens = Tensor::empty({7}, DType::I32);
  const int32_t ids[7] = {1, 3, 1, 5, 0, 1, 3};
  std::copy(ids, ids + 7, tokens.data<int32_t>());
  Arena arena(size_t{1} << 16, Device::cpu());
  const Tensor dlogits = random_tensor({7, 9}, 3, 1.0, DType::F32);
  const auto run = [&] {
    arena.reset();
    const Tensor h = embedding.forward(arena, tokens);
    head.forward(arena, h);
    const Tensor dh = head.backward(arena, dlogits);
    embedding.backward(dh);
  };
  expect_pending_matches_zeroed(params, run);

  make_stale(params[0]->grad);
  defer_zero_grads(params);
  arena.reset();
  head.forward(arena, embedding.forward(arena, tokens));
  head.backward(arena, dlogits);
  EXPECT_FALSE(params[0]->grad_pending_zero);  // the head claimed it: the embedding's backward accumulates
}

}  // namespace
}  // namespace strand::nn
