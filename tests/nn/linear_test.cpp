// Linear, the one-part FusedLinear: untied and tied, with and without a bias, reproduces the linear op and
// its gradients; its precision recipe derives from the placement, and recipes the products cannot run are
// refused.
#include "strand/nn/linear.h"

#include "expect_error.h"
#include "ops/gradcheck.h"
#include "strand/ops/linear.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace strand::nn {
namespace {

using testing::bitwise_equal;
using testing::dot;
using testing::error_of;
using testing::expect_grad_matches;
using testing::max_rel_error;
using testing::random_tensor;

std::vector<std::string> names_of(const ParameterList& params) {
  std::vector<std::string> names;
  for (const Parameter* p : params) names.push_back(p->name);
  return names;
}

TEST(LinearModule, TiedOrNotWithOrWithoutBiasMatchesTheOpAndFiniteDifferences) {
  const int64_t in = 5, out = 4, rows = 6;
  const Placement placement(DType::F64);
  for (const bool tied : {false, true}) {
    for (const bool bias : {false, true}) {
      SCOPED_TRACE(std::string(tied ? "tied" : "untied") + (bias ? ", bias" : ", no bias"));
      Parameter table("embed.weight", Shape{out, in}, placement, true);
      std::optional<Linear> linear;
      if (tied) {
        linear.emplace(table, bias ? "head.bias" : "", placement);
      } else {
        linear.emplace("head", in, out, bias, placement);
      }
      ParameterList params;
      linear->collect(params);
      std::vector<std::string> expected;
      if (!tied) expected.push_back("head.weight");
      if (bias) expected.push_back("head.bias");
      EXPECT_EQ(names_of(params), expected);
      Parameter& w = linear->weight();
      EXPECT_EQ(&w == &table, tied);
      EXPECT_EQ(w.value.shape(), (Shape{out, in}));
      assign(w, random_tensor({out, in}, 1));
      Parameter* b = bias ? params.back() : nullptr;
      if (b != nullptr) {
        EXPECT_FALSE(b->decay);
        assign(*b, random_tensor({out}, 2));
      }

      Arena arena(size_t{1} << 16, Device::cpu());
      const Tensor x = random_tensor({rows, in}, 3), r = random_tensor({rows, out}, 4);
      const Tensor y = linear->forward(arena, x);
      Tensor expected_y = Tensor::empty({rows, out}, DType::F64);
      linear_forward(expected_y, x, w.value, b != nullptr ? b->value : Tensor());
      EXPECT_TRUE(bitwise_equal(y, expected_y));

      const Tensor dx = linear->backward(arena, r);
      Arena scratch(size_t{1} << 16, Device::cpu());
      auto loss = [&] {
        scratch.reset();
        return dot(linear->forward(scratch, x), r);
      };
      expect_grad_matches("dx", dx, loss, x);
      expect_grad_matches("dw", w.grad, loss, w.value);  // the table's gradient when tied
      if (b != nullptr) expect_grad_matches("db", b->grad, loss, b->value);
    }
  }
}

TEST(LinearModule, NamesSpelledOutKeepTheBiasApart) {
  Linear head("lm_head.decoder.weight", "lm_head.bias", 3, 5, Placement(DType::F32));
  ParameterList params;
  head.collect(params);
  EXPECT_EQ(names_of(params), (std::vector<std::string>{"lm_head.decoder.weight", "lm_head.bias"}));
  Linear no_bias("proj.weight", "", 3, 5, Placement(DType::F32));
  params.clear();
  no_bias.collect(params);
  EXPECT_EQ(names_of(params), (std::vector<std::string>{"proj.weight"}));
}

TEST(LinearModule, ResidualOutputBufferRebindAndSkippedInputGradient) {
  const int64_t in = 3, out = 4, rows = 5;
  Linear linear("l", in, out, true, Placement(DType::F64));
  ParameterList params;
  linear.collect(params);
  assign(*params[0], random_tensor({out, in}, 5));
  assign(*params[1], random_tensor({out}, 6));
  Arena arena(size_t{1} << 16, Device::cpu());
  const Tensor x = random_tensor({rows, in}, 7), residual = random_tensor({rows, out}, 8);
  const Tensor plain = linear.forward(arena, x).clone();
  const Tensor buffer = Tensor::empty({rows, out}, DType::F64);
  const Tensor y = linear.forward(arena, x, residual, buffer);
  EXPECT_EQ(y.raw(), buffer.raw());
  Tensor sum = plain.clone();
  for (int64_t i = 0; i < sum.numel(); ++i) sum.data<double>()[i] += residual.item(i);
  EXPECT_LT(max_rel_error(y, sum), 1e-15);

  // The backward reads the rebound input, not the last forward's.
  linear.forward(arena, random_tensor({rows, in}, 9));
  linear.rebind_input(x);
  const Tensor dy = random_tensor({rows, out}, 10);
  EXPECT_FALSE(linear.backward(arena, dy, /*need_dx=*/false).defined());
  Tensor dw = Tensor::zeros({out, in}, DType::F64), db = Tensor::zeros({out}, DType::F64);
  linear_backward(Tensor(), dw, db, dy, x, params[0]->value, GradWrite::accumulate, GradWrite::accumulate);
  EXPECT_TRUE(bitwise_equal(params[0]->grad, dw));
  EXPECT_TRUE(bitwise_equal(params[1]->grad, db));
}

TEST(LinearModule, RefusesOperandsOfAnotherDtypeThanItsRecipe) {
  Linear linear("l", 3, 2, false, Placement(DType::F64));
  Arena arena(size_t{1} << 16, Device::cpu());
  const std::string message = error_of([&] {
    linear.forward(arena, random_tensor({4, 3}, 1, 1.0, DType::F32));
  });
  EXPECT_CONTAINS(message, "l.weight");
  EXPECT_CONTAINS(message, "input");
}

TEST(LinearPrecision, DerivesFromThePlacement) {
  const LinearPrecision f32 = LinearPrecision::of(Placement(DType::F32));
  EXPECT_EQ(f32.input, DType::F32);
  EXPECT_EQ(f32.weight, DType::F32);
  EXPECT_EQ(f32.grad_output, DType::F32);
  EXPECT_EQ(f32.accumulate, DType::F32);
  EXPECT_EQ(f32.scaling, FP8Scaling::none);
  const LinearPrecision bf16 = LinearPrecision::of(Placement::cuda(DType::BF16));
  EXPECT_EQ(bf16.input, DType::BF16);
  EXPECT_EQ(bf16.weight, DType::BF16);
  EXPECT_EQ(bf16.grad_output, DType::BF16);
  EXPECT_EQ(bf16.accumulate, DType::F32);
  EXPECT_EQ(LinearPrecision::of(Placement(DType::F64)).accumulate, DType::F64);

  EXPECT_EQ(Linear("l", 3, 2, false, Placement(DType::F64)).precision(), LinearPrecision::of(DType::F64));
  // A tied product reads the weight in its owner's precision, whatever placement its bias is given.
  Parameter table("embed.weight", Shape{2, 3}, Placement(DType::F64), true);
  EXPECT_EQ(Linear(table).precision(), LinearPrecision::of(DType::F64));
}

TEST(LinearPrecision, RefusesRecipesTheProductsCannotRun) {
  const Placement placement(DType::F32);
  LinearPrecision fp8 = LinearPrecision::of(placement);
  fp8.input = fp8.weight = DType::F8E4M3;
  fp8.grad_output = DType::F8E5M2;
  fp8.scaling = FP8Scaling::delayed;
  std::string message = error_of([&] { Linear("mlp.up_proj", 3, 2, false, placement, fp8); });
  EXPECT_CONTAINS(message, "mlp.up_proj.weight");
  EXPECT_CONTAINS(message, "FP8");
  EXPECT_CONTAINS(message, "F8_E4M3");

  LinearPrecision scaled = LinearPrecision::of(placement);
  scaled.scaling = FP8Scaling::current;
  EXPECT_CONTAINS(error_of([&] { check_supported(scaled, placement, "l"); }), "scales");

  LinearPrecision mixed = LinearPrecision::of(placement);
  mixed.grad_output = DType::BF16;
  EXPECT_CONTAINS(error_of([&] { FusedLinear({{"qkv", 2}}, 3, false, placement, mixed); }), "qkv.weight");
  EXPECT_NO_THROW(check_supported(LinearPrecision::of(placement), placement, "l"));
}

}  // namespace
}  // namespace strand::nn
