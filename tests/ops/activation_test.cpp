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

// gate and up as the two halves of one fused [T, 2F] product, the layout the gated MLP hands over; out
// written into the middle columns of a wider buffer whose other columns must stay untouched.
TEST(SwiGLU, RowStridedHalvesMatchContiguousOperands) {
  const int64_t rows = 5, f = 7;
  const Tensor gate_up = random_tensor({rows, 2 * f}, 8, 2.0), dout = random_tensor({rows, f}, 9);
  const Tensor gate = gate_up.narrow(1, 0, f), up = gate_up.narrow(1, f, f);
  Tensor wide = Tensor::empty({rows, f + 3}, DType::F64);
  wide.fill(-7.0);
  const Tensor out = wide.narrow(1, 1, f);
  swiglu_forward(out, gate, up);
  Tensor expected = Tensor::empty({rows, f}, DType::F64);
  swiglu_forward(expected, gate.contiguous(), up.contiguous());
  EXPECT_TRUE(testing::bitwise_equal(out.contiguous(), expected));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c : {int64_t{0}, f + 1, f + 2})
      EXPECT_EQ(wide.item(r * (f + 3) + c), -7.0) << r << ", " << c;

  Tensor dgate_up = Tensor::empty({rows, 2 * f}, DType::F64);
  swiglu_backward(dgate_up.narrow(1, 0, f), dgate_up.narrow(1, f, f), dout, gate, up);
  Tensor dgate = Tensor::empty({rows, f}, DType::F64), dup = Tensor::empty({rows, f}, DType::F64);
  swiglu_backward(dgate, dup, dout, gate.contiguous(), up.contiguous());
  EXPECT_TRUE(testing::bitwise_equal(dgate_up.narrow(1, 0, f).contiguous(), dgate));
  EXPECT_TRUE(testing::bitwise_equal(dgate_up.narrow(1, f, f).contiguous(), dup));
}

TEST(SwiGLU, RowStridedBackwardMatchesFiniteDifferences) {
  const int64_t rows = 4, f = 6;
  Tensor gate_up = random_tensor({rows, 2 * f}, 10, 2.0);
  const Tensor r = random_tensor({rows, f}, 11);
  Tensor out = Tensor::empty({rows, f}, DType::F64);
  auto loss = [&] {
    swiglu_forward(out, gate_up.narrow(1, 0, f), gate_up.narrow(1, f, f));
    return dot(out, r);
  };
  Tensor dgate_up = testing::zeros_like(gate_up);
  swiglu_backward(dgate_up.narrow(1, 0, f), dgate_up.narrow(1, f, f), r, gate_up.narrow(1, 0, f),
                  gate_up.narrow(1, f, f));
  expect_grad_matches("dgate_up", dgate_up, loss, gate_up);
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
  // Rows must be contiguous: a transposed operand is refused, not read wrongly.
  const Tensor square = random_tensor({3, 3}, 3), sq_out = Tensor::empty({3, 3}, DType::F64);
  EXPECT_THROW(swiglu_forward(sq_out, square.transpose(0, 1), square), Error);
  EXPECT_THROW(swiglu_backward(sq_out, sq_out.transpose(0, 1), square, square, square), Error);
}

}  // namespace
}  // namespace strand
