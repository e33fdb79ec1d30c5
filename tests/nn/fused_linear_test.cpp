// FusedLinear: the same products and gradients as separate Linear modules, through parameters that are views
// of one buffer (named and ordered as the separate modules' would be).
#include "strand/nn/fused_linear.h"

#include "ops/gradcheck.h"
#include "strand/nn/linear.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

namespace strand::nn {
namespace {

using testing::max_rel_error;
using testing::random_tensor;

TEST(FusedLinear, MatchesSeparateProjections) {
  const int64_t in = 6, rows = 9;
  const std::vector<LinearPart> parts = {{"q", 4}, {"k", 2}, {"v", 2}};
  const Placement placement(DType::F64);
  FusedLinear fused(parts, in, true, placement);
  std::vector<std::unique_ptr<Linear>> separate;
  for (const LinearPart& p : parts)
    separate.push_back(std::make_unique<Linear>(p.prefix, in, p.out, true, placement));

  ParameterList fused_params, separate_params;
  fused.collect(fused_params);
  for (auto& l : separate) l->collect(separate_params);
  ASSERT_EQ(fused_params.size(), separate_params.size());
  for (size_t i = 0; i < parts.size(); ++i)
    EXPECT_EQ(&fused.weight(i), fused_params[2 * i]) << parts[i].prefix;
  for (size_t i = 0; i < fused_params.size(); ++i) {
    EXPECT_EQ(fused_params[i]->name, separate_params[i]->name);
    EXPECT_EQ(fused_params[i]->value.shape(), separate_params[i]->value.shape());
    EXPECT_EQ(fused_params[i]->decay, separate_params[i]->decay) << fused_params[i]->name;
    const Tensor values = random_tensor(fused_params[i]->value.shape(), 10 + i);
    assign(*fused_params[i], values);
    assign(*separate_params[i], values);
  }

  Arena arena(size_t{1} << 16, Device::cpu());
  const Tensor x = random_tensor({rows, in}, 1);
  const Tensor y = fused.forward(arena, x);
  ASSERT_EQ(y.shape(), (Shape{rows, 8}));
  const Tensor dy = random_tensor(y.shape(), 2);
  Tensor dx_separate = Tensor::zeros({rows, in}, DType::F64);
  for (size_t i = 0; i < parts.size(); ++i) {
    const Tensor part_y = y.narrow(1, fused.offset(i), parts[i].out).contiguous();
    EXPECT_LT(max_rel_error(part_y, separate[i]->forward(arena, x)), 1e-15) << parts[i].prefix;
    const Tensor part_dx =
        separate[i]->backward(arena, dy.narrow(1, fused.offset(i), parts[i].out).contiguous());
    for (int64_t j = 0; j < part_dx.numel(); ++j) dx_separate.data<double>()[j] += part_dx.item(j);
  }
  const Tensor dx = fused.backward(arena, dy);
  EXPECT_LT(max_rel_error(dx, dx_separate), 1e-14);
  // Each part's gradient lands in its own parameter, a view of the fused gradient buffer.
  for (size_t i = 0; i < fused_params.size(); ++i)
    EXPECT_LT(max_rel_error(fused_params[i]->grad, separate_params[i]->grad), 1e-14) << fused_params[i]->name;
}

TEST(FusedLinear, RejectsEmptyParts) {
  EXPECT_THROW(FusedLinear({}, 4, false, Placement(DType::F32)), Error);
  EXPECT_THROW(FusedLinear({{"q", 0}}, 4, false, Placement(DType::F32)), Error);
}

}  // namespace
}  // namespace strand::nn
