#include "strand/ops/optimizer.h"

#include "strand/ops/cpu/cpu_ops.h"
#include "strand/ops/dispatch.h"

#include <cmath>
#include <limits>

namespace strand {
namespace {

// One running sum over every element of every tensor, in order.
template <typename T>
void add_sum_of_squares(double& ss, const Tensor& grad) {
  const T* g = grad.data<T>();
  for (int64_t i = 0; i < grad.numel(); ++i) ss += static_cast<double>(g[i]) * g[i];
}

template <typename T>
T scalar(const Tensor& t) {
  return static_cast<T>(t.dtype() == DType::F64 ? t.data<double>()[0] : t.data<float>()[0]);
}

template <typename T>
void set_scalar(const Tensor& t, T value) {
  if (t.dtype() == DType::F64) {
    t.data<double>()[0] = static_cast<double>(value);
  } else {
    t.data<float>()[0] = static_cast<float>(value);
  }
}

template <typename N>
void clip_factor_in(const Tensor& factor, const Tensor& norm, double max_norm) {
  const N n = scalar<N>(norm), limit = static_cast<N>(max_norm);
  set_scalar<N>(factor, !std::isfinite(n)        ? std::numeric_limits<N>::quiet_NaN()
                        : limit > 0 && n > limit ? limit / n
                                                 : N{1});
}

template <typename T>
void step_kernel(const AdamWTensors& t, const AdamWOptions& o, int64_t step, T grad_scale) {
  T* p = t.value.data<T>();
  const T* g = t.grad.data<T>();
  T* pm = t.exp_avg.data<T>();
  T* pv = t.exp_avg_sq.data<T>();
  const int64_t n = t.value.numel();
  const double bias1 = 1.0 - std::pow(o.beta1, static_cast<double>(step));
  const double bias2_sqrt = std::sqrt(1.0 - std::pow(o.beta2, static_cast<double>(step)));
  const T decay = static_cast<T>(1.0 - o.lr * t.weight_decay);
  const T step_size = static_cast<T>(o.lr / bias1);
  const T b1 = static_cast<T>(o.beta1), b2 = static_cast<T>(o.beta2);
  const T eps = static_cast<T>(o.eps), bias2_root = static_cast<T>(bias2_sqrt);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const T gi = g[i] * grad_scale;
    p[i] *= decay;
    // torch.optim.AdamW's order of operations: m by lerp, sqrt(v) divided by the bias-correction root.
    pm[i] += (T{1} - b1) * (gi - pm[i]);
    pv[i] = b2 * pv[i] + (T{1} - b2) * gi * gi;
    p[i] -= step_size * pm[i] / (std::sqrt(pv[i]) / bias2_root + eps);
  }
}

}  // namespace

namespace cpu {

double grad_sum_of_squares(const std::vector<AdamWTensors>& tensors) {
  double ss = 0;
  for (const AdamWTensors& t : tensors)
    ops_detail::dispatch_float(t.grad.dtype(), "grad_sum_of_squares",
                               [&](auto tag) { add_sum_of_squares<decltype(tag)>(ss, t.grad); });
  return ss;
}

void grad_norm(const Tensor& norm, const Tensor& sum_of_squares) {
  set_scalar(norm, std::sqrt(sum_of_squares.data<double>()[0]));
}

void clip_factor(const Tensor& factor, const Tensor& norm, double max_norm) {
  ops_detail::dispatch_float(norm.dtype(), "clip_factor",
                             [&](auto tag) { clip_factor_in<decltype(tag)>(factor, norm, max_norm); });
}

void adamw_step(const std::vector<AdamWTensors>& tensors, const AdamWOptions& options, int64_t step,
                const Tensor& grad_scale) {
  for (const AdamWTensors& t : tensors) {
    ops_detail::dispatch_float(t.value.dtype(), "adamw_step", [&](auto tag) {
      using T = decltype(tag);
      const T scale = grad_scale.defined() ? scalar<T>(grad_scale) : T{1};
      if (std::isfinite(scale)) step_kernel<T>(t, options, step, scale);
    });
  }
}

}  // namespace cpu
}  // namespace strand
