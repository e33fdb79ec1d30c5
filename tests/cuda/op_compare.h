// Checking an op's CUDA path against its CPU reference.
//
// Inputs are drawn at random, rounded to the dtype the GPU reads, and handed to both sides: the CPU reference
// gets the rounded values in F64, so what remains of the difference is the GPU's arithmetic and the rounding
// of its outputs. Outputs compare by relative norm error, and a non-finite element fails whatever the norms
// say. GPU outputs start as NaN, so an element the op never writes fails too.
#pragma once

#include "strand/core/device_memory.h"
#include "strand/core/tensor.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <ostream>
#include <random>
#include <string>

namespace strand::testing {

// Relative norm error allowed on a path: an F32 kernel differs from the F64 reference by its summation order
// only; a BF16 one also rounds its outputs (and cuDNN its attention probabilities) to 8 significant bits.
inline double tolerance(DType act) {
  return act == DType::BF16 ? 2e-2 : 1e-5;
}

// One op argument on both sides: the GPU's tensor and the CPU reference's copy of the same values, in F64
// for floats (integer tensors keep their dtype). An undefined Operand is an absent optional argument.
struct Operand {
  Tensor host;
  Tensor device;
};

// Selects one side of every Operand, so one call site runs an op on both: for (Side s : kSides) op(x.*s).
using Side = Tensor Operand::*;
inline constexpr Side kSides[] = {&Operand::host, &Operand::device};

// `values` (a host tensor) rounded to `dtype` and placed on both sides.
inline Operand operand(const Tensor& values, DType dtype) {
  const Tensor rounded = values.to(dtype);
  return {dtype_is_float(dtype) ? rounded.to(DType::F64) : rounded, rounded.to(Device::cuda())};
}

// An output of `dtype` on the GPU, every byte 0xFF (NaN in F32 and BF16), next to a NaN-filled F64 buffer
// for the reference.
inline Operand output(const Shape& shape, DType dtype) {
  Tensor reference = Tensor::empty(shape, DType::F64);
  reference.fill(NAN);
  Tensor poison = Tensor::empty(shape, dtype);
  std::memset(poison.raw(), 0xFF, poison.nbytes());
  return {reference, poison.to(Device::cuda())};
}

// Expects the GPU side of `o` to match the reference side: every element finite, and
// ||gpu - cpu|| / ||cpu|| <= tol.
inline void expect_match(const char* what, const Operand& o, double tol) {
  ASSERT_TRUE(o.device.shape() == o.host.shape()) << what << ": " << o.device.str() << " vs " << o.host.str();
  const Tensor got = o.device.to(Device::cpu()).to(DType::F64);
  const double* g = got.data<double>();
  const double* w = o.host.data<double>();
  double diff = 0, norm = 0;
  int64_t bad = 0, first_bad = -1;
  for (int64_t i = 0; i < got.numel(); ++i) {
    if (!std::isfinite(g[i]) || !std::isfinite(w[i])) {
      if (bad++ == 0) first_bad = i;
      continue;
    }
    diff += (g[i] - w[i]) * (g[i] - w[i]);
    norm += w[i] * w[i];
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << got.numel() << " elements not finite, the first at "
                    << first_bad << " (gpu " << (bad ? g[first_bad] : 0) << ", cpu "
                    << (bad ? w[first_bad] : 0) << ")";
  const double err = std::sqrt(diff) / std::max(std::sqrt(norm), std::numeric_limits<double>::min());
  EXPECT_LE(err, tol) << what << ": relative norm error " << err << " of " << o.host.str();
}

// The same for one number.
inline void expect_match(const char* what, double gpu, double cpu, double tol) {
  EXPECT_TRUE(std::isfinite(gpu)) << what << ": gpu " << gpu;
  EXPECT_LE(std::abs(gpu - cpu), tol * std::abs(cpu)) << what << ": gpu " << gpu << ", cpu " << cpu;
}

// A test's random numbers. The seed is fresh on every run, so runs cover new inputs, unless STRAND_TEST_SEED
// fixes it to replay a failure: failure messages carry the seed.
class Draw {
 public:
  Draw() : seed_(initial_seed()), engine_(seed_) {}
  uint64_t seed() const { return seed_; }

  // N(0, scale^2) values, F64 on the host.
  Tensor normal(const Shape& shape, double scale = 1.0) {
    Tensor t = Tensor::empty(shape, DType::F64);
    std::normal_distribution<double> dist(0.0, scale);
    double* p = t.data<double>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = dist(engine_);
    return t;
  }
  // Integers uniform in [lo, hi), I32 on the host.
  Tensor integers(const Shape& shape, int32_t lo, int32_t hi) {
    Tensor t = Tensor::empty(shape, DType::I32);
    std::uniform_int_distribution<int32_t> dist(lo, hi - 1);
    int32_t* p = t.data<int32_t>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = dist(engine_);
    return t;
  }
  // True with probability p.
  bool chance(double p) { return std::bernoulli_distribution(p)(engine_); }

 private:
  static uint64_t initial_seed() {
    if (const char* fixed = std::getenv("STRAND_TEST_SEED")) return std::strtoull(fixed, nullptr, 10);
    std::random_device device;
    return (static_cast<uint64_t>(device()) << 32) | device();
  }

  uint64_t seed_;
  std::mt19937_64 engine_;
};

// Base of the GPU op tests: skips, saying why, where no GPU is present, and owns the test's Draw, whose seed
// every failure message of the test names.
class GpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device on this machine";
    trace_.emplace(
        __FILE__, __LINE__,
        fmt::format("random seed {} (replay with STRAND_TEST_SEED={})", draw_.seed(), draw_.seed()));
  }

  // Normal values rounded to `dtype`, on both sides.
  Operand random_input(const Shape& shape, DType dtype, double scale = 1.0) {
    return operand(draw_.normal(shape, scale), dtype);
  }

  Draw draw_;

 private:
  std::optional<::testing::ScopedTrace> trace_;
};

}  // namespace strand::testing

namespace strand {

// gtest prints a DType test parameter by name.
inline void PrintTo(DType dtype, std::ostream* os) {
  *os << dtype_name(dtype);
}

}  // namespace strand
