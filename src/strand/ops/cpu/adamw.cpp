#include "strand/ops/adamw.h"

#include "strand/ops/cpu/cpu_ops.h"
#include "strand/ops/dispatch.h"

#include <cmath>

namespace strand {
namespace {

template <typename T>
void step_kernel(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v,
                 const AdamWOptions& o, int64_t step) {
  T* p = param.data<T>();
  const T* g = grad.data<T>();
  T* pm = m.data<T>();
  T* pv = v.data<T>();
  const int64_t n = param.numel();
  const double bias1 = 1.0 - std::pow(o.beta1, static_cast<double>(step));
  const double bias2_sqrt = std::sqrt(1.0 - std::pow(o.beta2, static_cast<double>(step)));
  const T decay = static_cast<T>(1.0 - o.lr * o.weight_decay);
  const T step_size = static_cast<T>(o.lr / bias1);
  const T b1 = static_cast<T>(o.beta1), b2 = static_cast<T>(o.beta2);
  const T eps = static_cast<T>(o.eps), bias2_root = static_cast<T>(bias2_sqrt);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    p[i] *= decay;
    // torch.optim.AdamW's order of operations: m by lerp, sqrt(v) divided by the bias-correction root.
    pm[i] += (T{1} - b1) * (g[i] - pm[i]);
    pv[i] = b2 * pv[i] + (T{1} - b2) * g[i] * g[i];
    p[i] -= step_size * pm[i] / (std::sqrt(pv[i]) / bias2_root + eps);
  }
}

}  // namespace

namespace cpu {

void adamw_step(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v,
                const AdamWOptions& options, int64_t step) {
  ops_detail::dispatch_float(param.dtype(), "adamw_step",
                             [&](auto tag) { step_kernel<decltype(tag)>(param, grad, m, v, options, step); });
}

}  // namespace cpu
}  // namespace strand
