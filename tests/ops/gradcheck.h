// Finite-difference gradient checking for the ops, in double precision.
//
// Each op test builds F64 inputs, fixes a random projection r of the op's output, and compares the op's
// backward (fed dy = r) with central differences of the scalar L(x) = <op(x), r>. With F64 and a step of 1e-6
// the truncation and rounding errors sit near 1e-9, so a tolerance of 1e-6 separates a correct backward from
// one with any real mistake by orders of magnitude.
#pragma once

#include "strand/core/philox.h"
#include "strand/core/tensor.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <span>
#include <vector>

namespace strand::testing {

// N(0, scale^2) entries from Philox stream `stream` of `seed` (deterministic across runs and thread counts).
inline Tensor random_tensor(const Shape& shape, uint64_t seed, double scale = 1.0, DType dtype = DType::F64) {
  Tensor t = Tensor::empty(shape, DType::F64);
  double* p = t.data<double>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = scale * philox_normal(seed, 0, static_cast<uint64_t>(i));
  return dtype == DType::F64 ? t : t.to(dtype);
}

inline Tensor zeros_like(const Tensor& t) {
  return Tensor::zeros(t.shape(), t.dtype());
}

// <a, b> over all elements, in double.
inline double dot(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.numel(), b.numel());
  double s = 0;
  for (int64_t i = 0; i < a.numel(); ++i) s += a.item(i) * b.item(i);
  return s;
}

// max |a - b| / max(max |b|, floor): the normalised max error, which a uniformly small mean cannot hide.
inline double max_rel_error(const Tensor& a, const Tensor& b, double floor = 1e-12) {
  EXPECT_EQ(a.shape(), b.shape());
  double err = 0, ref = floor;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double x = a.item(i), y = b.item(i);
    if (std::isnan(x) || std::isnan(y)) return INFINITY;
    err = std::max(err, std::abs(x - y));
    ref = std::max(ref, std::abs(y));
  }
  return err / ref;
}

// d loss / d x by central differences; loss() must read x's current contents.
inline Tensor numeric_grad(const std::function<double()>& loss, const Tensor& x, double step = 1e-6) {
  Tensor g = Tensor::empty(x.shape(), DType::F64);
  double* p = x.data<double>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double saved = p[i];
    p[i] = saved + step;
    const double up = loss();
    p[i] = saved - step;
    const double down = loss();
    p[i] = saved;
    g.data<double>()[i] = (up - down) / (2 * step);
  }
  return g;
}

// Checks an analytic gradient against central differences of loss() with respect to x.
inline void expect_grad_matches(const char* what, const Tensor& analytic, const std::function<double()>& loss,
                                const Tensor& x, double tol = 1e-6) {
  const Tensor numeric = numeric_grad(loss, x);
  const double err = max_rel_error(analytic, numeric);
  EXPECT_LT(err, tol) << what << ": analytic vs numeric gradient, normalised max error " << err;
  // A zero gradient would match a zero numeric one trivially; the tests build inputs where it is not zero.
  double largest = 0;
  for (int64_t i = 0; i < numeric.numel(); ++i) largest = std::max(largest, std::abs(numeric.item(i)));
  EXPECT_GT(largest, 1e-8) << what << ": the gradient is zero, so this check proves nothing";
}

// Same shape, dtype and bits (contiguous tensors).
inline bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

// Lengths of the packed sequences most tests use: odd, unequal, one of length 1.
inline std::vector<int64_t> packed_lengths() {
  return {5, 1, 7, 3};
}

}  // namespace strand::testing
