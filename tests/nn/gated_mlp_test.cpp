// GatedMLP: its fused gate/up product keeps the transformers parameter names and order and computes
// down(silu(gate(x)) * up(x)) + residual with gradients that match finite differences.
#include "strand/nn/gated_mlp.h"

#include "ops/gradcheck.h"
#include "strand/ops/activation.h"
#include "strand/ops/linear.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace strand::nn {
namespace {

using testing::dot;
using testing::expect_grad_matches;
using testing::max_rel_error;
using testing::random_tensor;

constexpr int64_t kHidden = 4, kFfn = 6, kRows = 5;

struct Fixture {
  GatedMLP mlp{"model.layers.0.mlp", kHidden, kFfn, Placement(DType::F64)};
  ParameterList params;

  Fixture() {
    mlp.collect(params);
    for (size_t i = 0; i < params.size(); ++i)
      assign(*params[i], random_tensor(params[i]->value.shape(), 20 + i, 0.7));
  }
  Parameter& gate() { return *params[0]; }
  Parameter& up() { return *params[1]; }
  Parameter& down() { return *params[2]; }
};

TEST(GatedMLP, ParametersKeepTheirNamesShapesAndOrder) {
  Fixture f;
  ASSERT_EQ(f.params.size(), 3u);
  const std::vector<std::string> names = {"model.layers.0.mlp.gate_proj.weight",
                                          "model.layers.0.mlp.up_proj.weight",
                                          "model.layers.0.mlp.down_proj.weight"};
  for (size_t i = 0; i < names.size(); ++i) EXPECT_EQ(f.params[i]->name, names[i]);
  EXPECT_EQ(f.gate().value.shape(), (Shape{kFfn, kHidden}));
  EXPECT_EQ(f.up().value.shape(), (Shape{kFfn, kHidden}));
  EXPECT_EQ(f.down().value.shape(), (Shape{kHidden, kFfn}));
}

TEST(GatedMLP, ForwardMatchesSeparateProjections) {
  Fixture f;
  Arena arena(size_t{1} << 16, Device::cpu());
  const Tensor x = random_tensor({kRows, kHidden}, 1), residual = random_tensor({kRows, kHidden}, 2);
  const Tensor y = f.mlp.forward(arena, x, residual);

  Tensor gate = Tensor::empty({kRows, kFfn}, DType::F64), up = Tensor::empty({kRows, kFfn}, DType::F64);
  Tensor act = Tensor::empty({kRows, kFfn}, DType::F64),
         expected = Tensor::empty({kRows, kHidden}, DType::F64);
  linear_forward(gate, x, f.gate().value, Tensor());
  linear_forward(up, x, f.up().value, Tensor());
  swiglu_forward(act, gate, up);
  expected.copy_from(residual);
  linear_forward(expected, act, f.down().value, Tensor(), expected);
  EXPECT_LT(max_rel_error(y, expected), 1e-14);
}

TEST(GatedMLP, BackwardMatchesFiniteDifferences) {
  Fixture f;
  Arena arena(size_t{1} << 16, Device::cpu());
  const Tensor x = random_tensor({kRows, kHidden}, 3), residual = random_tensor({kRows, kHidden}, 4);
  const Tensor r = random_tensor({kRows, kHidden}, 5);
  f.mlp.forward(arena, x, residual);
  const Tensor dx = f.mlp.backward(arena, r);
  Arena scratch(size_t{1} << 16, Device::cpu());
  auto loss = [&] {
    scratch.reset();
    return dot(f.mlp.forward(scratch, x, residual), r);
  };
  expect_grad_matches("dx", dx, loss, x);
  for (Parameter* p : f.params) expect_grad_matches(p->name.c_str(), p->grad, loss, p->value);
}

}  // namespace
}  // namespace strand::nn
