#include "strand/ops/activation.h"

#include "strand/ops/cpu/cpu_ops.h"
#include "strand/ops/dispatch.h"

#include <cmath>

namespace strand {
namespace {

template <typename T>
T sigmoid(T x) {
  return T{1} / (T{1} + std::exp(-x));
}

template <typename T>
void swiglu_fwd(const Tensor& out, int64_t ld_out, const Tensor& gate, int64_t ld_gate, const Tensor& up,
                int64_t ld_up) {
  const int64_t rows = gate.size(0), cols = gate.size(1);
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const T* g = gate.data<T>() + r * ld_gate;
    const T* u = up.data<T>() + r * ld_up;
    T* o = out.data<T>() + r * ld_out;
    for (int64_t c = 0; c < cols; ++c) o[c] = g[c] * sigmoid(g[c]) * u[c];
  }
}

template <typename T>
void swiglu_bwd(const Tensor& dgate, int64_t ld_dgate, const Tensor& dup, int64_t ld_dup, const Tensor& dout,
                int64_t ld_dout, const Tensor& gate, int64_t ld_gate, const Tensor& up, int64_t ld_up) {
  const int64_t rows = gate.size(0), cols = gate.size(1);
  // silu'(g) = s + g s (1 - s), s = sigmoid(g)
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const T* g = gate.data<T>() + r * ld_gate;
    const T* u = up.data<T>() + r * ld_up;
    const T* d = dout.data<T>() + r * ld_dout;
    T* dg = dgate.data<T>() + r * ld_dgate;
    T* du = dup.data<T>() + r * ld_dup;
    for (int64_t c = 0; c < cols; ++c) {
      const T s = sigmoid(g[c]);
      dg[c] = d[c] * u[c] * (s + g[c] * s * (T{1} - s));
      du[c] = d[c] * g[c] * s;
    }
  }
}

template <typename T>
void gelu_fwd(const Tensor& out, const Tensor& x) {
  const T* px = x.data<T>();
  T* o = out.data<T>();
  const int64_t n = out.numel();
  const T inv_sqrt2 = static_cast<T>(0.70710678118654752440);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) o[i] = T{0.5} * px[i] * (T{1} + std::erf(px[i] * inv_sqrt2));
}

template <typename T>
void gelu_bwd(const Tensor& dx, const Tensor& dout, const Tensor& x) {
  const T* px = x.data<T>();
  const T* d = dout.data<T>();
  T* g = dx.data<T>();
  const int64_t n = x.numel();
  const T inv_sqrt2 = static_cast<T>(0.70710678118654752440);
  const T inv_sqrt_2pi = static_cast<T>(0.39894228040143267794);
  // gelu'(x) = Phi(x) + x phi(x)
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const T cdf = T{0.5} * (T{1} + std::erf(px[i] * inv_sqrt2));
    const T pdf = inv_sqrt_2pi * std::exp(T{-0.5} * px[i] * px[i]);
    g[i] = d[i] * (cdf + px[i] * pdf);
  }
}

}  // namespace

namespace cpu {

void swiglu_forward(const Tensor& out, int64_t ld_out, const Tensor& gate, int64_t ld_gate, const Tensor& up,
                    int64_t ld_up) {
  ops_detail::dispatch_float(gate.dtype(), "swiglu_forward", [&](auto tag) {
    swiglu_fwd<decltype(tag)>(out, ld_out, gate, ld_gate, up, ld_up);
  });
}

void swiglu_backward(const Tensor& dgate, int64_t ld_dgate, const Tensor& dup, int64_t ld_dup,
                     const Tensor& dout, int64_t ld_dout, const Tensor& gate, int64_t ld_gate,
                     const Tensor& up, int64_t ld_up) {
  ops_detail::dispatch_float(gate.dtype(), "swiglu_backward", [&](auto tag) {
    swiglu_bwd<decltype(tag)>(dgate, ld_dgate, dup, ld_dup, dout, ld_dout, gate, ld_gate, up, ld_up);
  });
}

void gelu_forward(const Tensor& out, const Tensor& x) {
  ops_detail::dispatch_float(x.dtype(), "gelu_forward", [&](auto tag) { gelu_fwd<decltype(tag)>(out, x); });
}

void gelu_backward(const Tensor& dx, const Tensor& dout, const Tensor& x) {
  ops_detail::dispatch_float(x.dtype(), "gelu_backward",
                             [&](auto tag) { gelu_bwd<decltype(tag)>(dx, dout, x); });
}

}  // namespace cpu
}  // namespace strand
