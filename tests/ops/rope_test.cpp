// RoPE: frequencies (plain and llama3-scaled) against independent computations, the forward against complex
// multiplication, the rotation's invariants (pair norms, relative positions), and the backward by finite
// differences over a packed batch.
#include "strand/ops/rope.h"

#include "ops/gradcheck.h"
#include "strand/ops/packed.h"

#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <cstring>
#include <numbers>
#include <vector>

namespace strand {
namespace {

using testing::bitwise_equal;
using testing::dot;
using testing::expect_grad_matches;
using testing::max_rel_error;
using testing::packed_lengths;
using testing::random_tensor;

Tensor positions_of(const std::vector<int32_t>& p) {
  Tensor t = Tensor::empty({static_cast<int64_t>(p.size())}, DType::I32);
  std::memcpy(t.data<int32_t>(), p.data(), p.size() * sizeof(int32_t));
  return t;
}

Tensor rope(const Tensor& x, const Tensor& positions, const std::vector<double>& inv_freq) {
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  out.fill(NAN);
  rope_forward(out, x, positions, inv_freq);
  return out;
}

TEST(Rope, InvFreqIsThetaPower) {
  for (const double theta : {10000.0, 500000.0}) {
    for (const int64_t dim : {2, 6, 64, 128}) {
      RopeOptions o;
      o.theta = theta;
      o.rotary_dim = dim;
      const std::vector<double> f = rope_inv_freq(o);
      ASSERT_EQ(f.size(), static_cast<size_t>(dim / 2));
      for (size_t i = 0; i < f.size(); ++i) {
        // theta^(-2i/D) = exp(-(2i/D) ln theta).
        const double expected =
            std::exp(-2.0 * static_cast<double>(i) / static_cast<double>(dim) * std::log(theta));
        EXPECT_NEAR(f[i], expected, 1e-14 * expected) << "theta " << theta << " D " << dim << " i " << i;
      }
      EXPECT_EQ(f[0], 1.0);
    }
  }
}

TEST(Rope, Llama3ScalingCoversEveryRegime) {
  RopeOptions o;
  o.theta = 500000.0;
  o.rotary_dim = 16;
  o.factor = 8.0;
  o.original_max_position = 64;
  o.low_freq_factor = 1.0;
  o.high_freq_factor = 4.0;
  const std::vector<double> f = rope_inv_freq(o);
  ASSERT_EQ(f.size(), 8u);

  // Independently: a frequency completes orig * f / (2 pi) turns over the original context. Fewer than
  // low_freq_factor turns: slowed by factor; more than high_freq_factor: kept; in between, the weight of the
  // original frequency grows linearly with the turn count.
  int slowed = 0, blended = 0, kept = 0;
  for (size_t i = 0; i < f.size(); ++i) {
    const double base = std::pow(500000.0, -static_cast<double>(i) / 8.0);
    const double turns = 64.0 * base / (2.0 * std::numbers::pi);
    double expected;
    if (turns < 1.0) {
      expected = base / 8.0;
      ++slowed;
    } else if (turns > 4.0) {
      expected = base;
      ++kept;
    } else {
      const double w = (turns - 1.0) / 3.0;
      expected = base * (w + (1.0 - w) / 8.0);
      EXPECT_GT(f[i], base / 8.0) << "blended frequency " << i << " must lie strictly between f/factor and f";
      EXPECT_LT(f[i], base) << "blended frequency " << i;
      ++blended;
    }
    EXPECT_NEAR(f[i], expected, 1e-14 * expected) << "i " << i;
  }
  EXPECT_EQ(kept, 1);
  EXPECT_EQ(blended, 1);
  EXPECT_EQ(slowed, 6);
  // Hand-derived: i = 0 is frequency 1 (wavelength 2 pi < 16), i = 7 is slowed.
  EXPECT_EQ(f[0], 1.0);
  EXPECT_NEAR(f[7], std::pow(500000.0, -7.0 / 8.0) / 8.0, 1e-20);
}

TEST(Rope, Llama3ScalingOffWhenFactorIsZero) {
  RopeOptions plain;
  plain.theta = 500000.0;
  plain.rotary_dim = 64;
  RopeOptions scaled = plain;
  scaled.factor = 32.0;
  const std::vector<double> a = rope_inv_freq(plain), b = rope_inv_freq(scaled);
  EXPECT_EQ(a.front(), b.front());                           // the fastest frequency is kept
  EXPECT_NEAR(b.back(), a.back() / 32.0, 1e-14 * a.back());  // the slowest is slowed
}

TEST(Rope, RejectsBadOptions) {
  RopeOptions o;
  o.rotary_dim = 0;
  EXPECT_THROW(rope_inv_freq(o), Error);
  o.rotary_dim = 7;
  EXPECT_THROW(rope_inv_freq(o), Error);
  o.rotary_dim = 8;
  o.theta = 0.0;
  EXPECT_THROW(rope_inv_freq(o), Error);
  o.theta = 10000.0;
  o.factor = -1.0;
  EXPECT_THROW(rope_inv_freq(o), Error);
  o.factor = 8.0;
  o.low_freq_factor = 4.0;
  o.high_freq_factor = 4.0;  // would divide by zero
  EXPECT_THROW(rope_inv_freq(o), Error);
  o.high_freq_factor = 8.0;
  EXPECT_NO_THROW(rope_inv_freq(o));
}

TEST(Rope, ForwardMatchesComplexRotation) {
  const int64_t H = 2, D = 8;
  const std::vector<int32_t> pos = {0, 1, 7, 1000, 123456};
  const int64_t T = static_cast<int64_t>(pos.size());
  RopeOptions o;
  o.rotary_dim = D;
  const std::vector<double> inv_freq = rope_inv_freq(o);
  const Tensor x = random_tensor({T, H, D}, 1);
  const Tensor y = rope(x, positions_of(pos), inv_freq);
  // Pair i is the complex number x_i + i x_{i+D/2}; RoPE multiplies it by e^{i p theta^(-2i/D)}.
  double err = 0;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < D / 2; ++i) {
        const int64_t base = (t * H + h) * D;
        const double freq = std::pow(10000.0, -2.0 * static_cast<double>(i) / D);
        const std::complex<double> z =
            std::complex<double>(x.item(base + i), x.item(base + i + D / 2)) * std::polar(1.0, pos[t] * freq);
        err = std::max(
            {err, std::abs(y.item(base + i) - z.real()), std::abs(y.item(base + i + D / 2) - z.imag())});
      }
  EXPECT_LT(err, 1e-12);
  // Position 0 is the identity, exactly.
  EXPECT_EQ(std::memcmp(y.raw(), x.raw(), static_cast<size_t>(H * D) * sizeof(double)), 0);
}

TEST(Rope, PreservesPairNorms) {
  const int64_t T = 6, H = 3, D = 10;
  RopeOptions o;
  o.rotary_dim = D;
  o.theta = 500000.0;
  o.factor = 32.0;
  const Tensor x = random_tensor({T, H, D}, 2);
  const Tensor y = rope(x, positions_of({3, 0, 17, 4095, 8191, 70000}), rope_inv_freq(o));
  for (int64_t r = 0; r < T * H; ++r)
    for (int64_t i = 0; i < D / 2; ++i) {
      const double a = std::hypot(x.item(r * D + i), x.item(r * D + i + D / 2));
      const double b = std::hypot(y.item(r * D + i), y.item(r * D + i + D / 2));
      EXPECT_NEAR(b, a, 1e-14 * std::max(a, 1.0)) << "row " << r << " pair " << i;
    }
}

TEST(Rope, ScoresDependOnlyOnRelativePosition) {
  const int64_t D = 16;
  RopeOptions o;
  o.rotary_dim = D;
  const std::vector<double> inv_freq = rope_inv_freq(o);
  const Tensor q = random_tensor({1, 1, D}, 3), k = random_tensor({1, 1, D}, 4);
  auto score = [&](int32_t pq, int32_t pk) {
    return dot(rope(q, positions_of({pq}), inv_freq), rope(k, positions_of({pk}), inv_freq));
  };
  const double ref = score(5, 2);
  for (const auto& [pq, pk] : {std::pair{3, 0}, {13, 10}, {103, 100}, {4003, 4000}})
    EXPECT_NEAR(score(pq, pk), ref, 1e-11) << pq << " - " << pk;
  EXPECT_GT(std::abs(score(5, 3) - ref), 1e-3) << "a different offset should change the score";
}

TEST(Rope, BackwardMatchesFiniteDifferences) {
  const SeqLayout layout = SeqLayout::from_lengths(packed_lengths());
  const int64_t T = layout.num_tokens(), H = 3, D = 6;
  for (const double factor : {0.0, 8.0}) {
    RopeOptions o;
    o.rotary_dim = D;
    o.factor = factor;
    o.original_max_position = 16;  // so llama3 scaling acts on these short sequences' frequencies
    const std::vector<double> inv_freq = rope_inv_freq(o);
    const Tensor x = random_tensor({T, H, D}, 5), r = random_tensor({T, H, D}, 6);
    Tensor dx = Tensor::empty({T, H, D}, DType::F64);
    dx.fill(NAN);
    rope_backward(dx, r, layout.positions, inv_freq);
    expect_grad_matches(
        "rope dx", dx, [&] { return dot(rope(x, layout.positions, inv_freq), r); }, x);
  }
}

TEST(Rope, InPlaceMatchesOutOfPlace) {
  const SeqLayout layout = SeqLayout::from_lengths(packed_lengths());
  const int64_t T = layout.num_tokens(), H = 3, D = 6;
  RopeOptions o;
  o.rotary_dim = D;
  const std::vector<double> inv_freq = rope_inv_freq(o);
  for (const DType dtype : {DType::F32, DType::F64}) {
    const Tensor x = random_tensor({T, H, D}, 7, 1.0, dtype);
    const Tensor y = rope(x, layout.positions, inv_freq);
    Tensor inplace = x.clone();
    rope_forward(inplace, inplace, layout.positions, inv_freq);
    EXPECT_TRUE(bitwise_equal(inplace, y)) << dtype_name(dtype);

    Tensor dx = Tensor::empty(x.shape(), dtype);
    rope_backward(dx, x, layout.positions, inv_freq);
    Tensor dx_inplace = x.clone();
    rope_backward(dx_inplace, dx_inplace, layout.positions, inv_freq);
    EXPECT_TRUE(bitwise_equal(dx_inplace, dx)) << dtype_name(dtype);
    EXPECT_FALSE(bitwise_equal(dx, y)) << "backward must rotate the other way";
  }
}

// A row-strided slice (q and k of a fused q/k/v buffer) rotates in place to the same bits as a contiguous
// copy, and the rest of each row is left alone.
TEST(Rope, RotatesRowStridedSlicesInPlace) {
  const SeqLayout layout = SeqLayout::from_lengths(packed_lengths());
  const int64_t T = layout.num_tokens(), H = 3, D = 6, width = 5;
  RopeOptions o;
  o.rotary_dim = D;
  const std::vector<double> inv_freq = rope_inv_freq(o);
  const Tensor fused = random_tensor({T, width, D}, 9);
  const Tensor untouched = fused.narrow(1, H, width - H).contiguous();
  const Tensor slice = fused.narrow(1, 0, H);
  const Tensor original = slice.contiguous();
  const Tensor expected = rope(original, layout.positions, inv_freq);
  rope_forward(slice, slice, layout.positions, inv_freq);
  EXPECT_TRUE(bitwise_equal(slice.contiguous(), expected));
  EXPECT_TRUE(bitwise_equal(fused.narrow(1, H, width - H).contiguous(), untouched));
  rope_backward(slice, slice, layout.positions, inv_freq);
  EXPECT_LT(max_rel_error(slice.contiguous(), original), 1e-14);  // the backward rotates it back
}

TEST(Rope, BackwardUndoesForward) {
  const int64_t T = 4, H = 2, D = 8;
  RopeOptions o;
  o.rotary_dim = D;
  const std::vector<double> inv_freq = rope_inv_freq(o);
  const Tensor pos = positions_of({0, 9, 250, 8191});
  const Tensor x = random_tensor({T, H, D}, 8);
  Tensor back = rope(x, pos, inv_freq);
  rope_backward(back, back, pos, inv_freq);
  EXPECT_LT(max_rel_error(back, x), 1e-14);
}

TEST(Rope, F32MatchesF64) {
  const SeqLayout layout = SeqLayout::from_lengths(std::vector<int64_t>{40, 9, 100});
  const int64_t T = layout.num_tokens(), H = 4, D = 16;
  RopeOptions o;
  o.rotary_dim = D;
  const std::vector<double> inv_freq = rope_inv_freq(o);
  const Tensor x = random_tensor({T, H, D}, 9);
  const Tensor y64 = rope(x, layout.positions, inv_freq);
  const Tensor y32 = rope(x.to(DType::F32), layout.positions, inv_freq);
  EXPECT_LT(max_rel_error(y32.to(DType::F64), y64), 1e-6);
}

TEST(Rope, RejectsBadInputs) {
  const int64_t T = 3, H = 2, D = 4;
  RopeOptions o;
  o.rotary_dim = D;
  const std::vector<double> inv_freq = rope_inv_freq(o);
  const Tensor x = random_tensor({T, H, D}, 10);
  const Tensor pos = positions_of({0, 1, 2});
  Tensor out = Tensor::empty({T, H, D}, DType::F64);
  EXPECT_NO_THROW(rope_forward(out, x, pos, inv_freq));
  EXPECT_THROW(rope_forward(out, x, positions_of({0, -1, 2}), inv_freq), Error);
  EXPECT_THROW(rope_forward(out, x, positions_of({0, 1}), inv_freq), Error);
  EXPECT_THROW(rope_forward(out, x, pos.to(DType::I64), inv_freq), Error);
  EXPECT_THROW(rope_forward(out, x, pos, std::vector<double>{1.0}), Error);  // rotary_dim != D
  EXPECT_THROW(rope_forward(Tensor::empty({T, H, D}, DType::F32), x, pos, inv_freq), Error);
  EXPECT_THROW(rope_forward(Tensor::empty({T, H + 1, D}, DType::F64), x, pos, inv_freq), Error);
  EXPECT_THROW(rope_forward(out, x.view({T, H * D}), pos, inv_freq), Error);
  EXPECT_THROW(rope_backward(out, Tensor::zeros({T, H, D}, DType::I32), pos, inv_freq), Error);
  EXPECT_THROW(rope_backward(out, x, positions_of({0, 1, -5}), inv_freq), Error);
}

}  // namespace
}  // namespace strand
