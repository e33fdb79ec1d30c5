#include "strand/ops/activation.h"

#include "gradcheck.h"

#include <cmath>

namespace strand {
namespace {

using testing::dot;
using testing::expect_grad_matches;
using testing::random_tensor;

TEST(SwiGLU, ForwardMatchesFormula) {
  Tensor g = random_tensor({5, 7}, 1, 2.0), u = random_tensor({5, 7}, 2);
  Tensor out = Tensor::empty({5, 7}, DType::F64);
  swiglu_forward(out, g, u);
  for (int64_t i = 0; i < out.numel(); ++i) {
    const double x = g.item(i);
    EXPECT_NEAR(out.item(i), x / (1 + std::exp(-x)) * u.item(i), 1e-14);
  }
}

TEST(SwiGLU, BackwardMatchesFiniteDifferences) {
  Tensor g = random_tensor({5, 7}, 3, 2.0), u = random_tensor({5, 7}, 4), r = random_tensor({5, 7}, 5);
  Tensor out = Tensor::empty({5, 7}, DType::F64);
  auto loss = [&] {
    swiglu_forward(out, g, u);
    return dot(out, r);
  };
  Tensor dg = testing::zeros_like(g), du = testing::zeros_like(u);
  swiglu_backward(dg, du, r, g, u);
  expect_grad_matches("dgate", dg, loss, g);
  expect_grad_matches("dup", du, loss, u);
}

TEST(GELU, ExactErfValues) {
  Tensor x = Tensor::empty({4}, DType::F64);
  const double in[4] = {-3.0, -0.5, 1.0, 2.0};
  // x * Phi(x), evaluated separately in Python as x * 0.5 * (1 + math.erf(x / math.sqrt(2))).
  const double expect[4] = {-0.00404969409489031, -0.15426876936299344, 0.8413447460685429,
                            1.9544997361036416};
  std::copy(in, in + 4, x.data<double>());
  Tensor out = Tensor::empty({4}, DType::F64);
  gelu_forward(out, x);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(out.item(i), expect[i], 1e-14);
}

TEST(GELU, BackwardMatchesFiniteDifferences) {
  Tensor x = random_tensor({3, 11}, 6, 2.0), r = random_tensor({3, 11}, 7);
  Tensor out = Tensor::empty({3, 11}, DType::F64);
  auto loss = [&] {
    gelu_forward(out, x);
    return dot(out, r);
  };
  Tensor dx = testing::zeros_like(x);
  gelu_backward(dx, r, x);
  expect_grad_matches("dx", dx, loss, x);
}

TEST(Activations, RejectMismatchedShapes) {
  Tensor g = random_tensor({2, 3}, 1), u = random_tensor({3, 2}, 2), out = Tensor::empty({2, 3}, DType::F64);
  EXPECT_THROW(swiglu_forward(out, g, u), Error);
}

}  // namespace
}  // namespace strand
