#include "strand/ops/norm.h"

#include "strand/ops/cpu/cpu_ops.h"
#include "strand/ops/dispatch.h"

#include <cmath>

namespace strand {
namespace {

// Row statistics accumulate in double whatever T is: the reference should not be the source of error.

template <typename T>
void rms_forward(const Tensor& y, const Tensor& rstd, const Tensor& x, const Tensor& w, double eps) {
  const int64_t rows = x.size(0), width = x.size(1);
  const T* px = x.data<T>();
  const T* pw = w.data<T>();
  T* py = y.data<T>();
  T* pr = rstd.data<T>();
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < rows; ++t) {
    const T* row = px + t * width;
    double ss = 0;
    for (int64_t c = 0; c < width; ++c) ss += static_cast<double>(row[c]) * row[c];
    const T r = static_cast<T>(1.0 / std::sqrt(ss / static_cast<double>(width) + eps));
    pr[t] = r;
    for (int64_t c = 0; c < width; ++c) py[t * width + c] = pw[c] * (row[c] * r);
  }
}

template <typename T>
void rms_backward(const Tensor& dx, const Tensor& dw, bool accumulate_dw, const Tensor& dy, const Tensor& x,
                  const Tensor& w, const Tensor& rstd) {
  const int64_t rows = x.size(0), width = x.size(1);
  const T* px = x.data<T>();
  const T* pw = w.data<T>();
  const T* pg = dy.data<T>();
  const T* pr = rstd.data<T>();
  if (dx.defined()) {
    T* pdx = dx.data<T>();
    // dx_j = r * (w_j g_j - x_j r^2 mean_i(w_i g_i x_i))
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < rows; ++t) {
      const T* row = px + t * width;
      const T* g = pg + t * width;
      const double r = pr[t];
      double s = 0;
      for (int64_t c = 0; c < width; ++c) s += static_cast<double>(pw[c]) * g[c] * row[c];
      const double k = r * r * s / static_cast<double>(width);
      for (int64_t c = 0; c < width; ++c)
        pdx[t * width + c] = static_cast<T>(r * (pw[c] * g[c] - row[c] * k));
    }
  }
  T* pdw = dw.data<T>();
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < width; ++c) {
    double s = 0;
    for (int64_t t = 0; t < rows; ++t)
      s += static_cast<double>(pg[t * width + c]) * px[t * width + c] * pr[t];
    pdw[c] = accumulate_dw ? pdw[c] + static_cast<T>(s) : static_cast<T>(s);
  }
}

template <typename T>
void ln_forward(const Tensor& y, const Tensor& mean, const Tensor& rstd, const Tensor& x, const Tensor& w,
                const Tensor& b, double eps) {
  const int64_t rows = x.size(0), width = x.size(1);
  const T* px = x.data<T>();
  const T* pw = w.data<T>();
  const T* pb = b.data<T>();
  T* py = y.data<T>();
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < rows; ++t) {
    const T* row = px + t * width;
    double s = 0;
    for (int64_t c = 0; c < width; ++c) s += row[c];
    const double mu = s / static_cast<double>(width);
    double v = 0;
    for (int64_t c = 0; c < width; ++c) v += (row[c] - mu) * (row[c] - mu);
    const double r = 1.0 / std::sqrt(v / static_cast<double>(width) + eps);
    mean.data<T>()[t] = static_cast<T>(mu);
    rstd.data<T>()[t] = static_cast<T>(r);
    for (int64_t c = 0; c < width; ++c) py[t * width + c] = static_cast<T>((row[c] - mu) * r * pw[c] + pb[c]);
  }
}

template <typename T>
void ln_backward(const Tensor& dx, const Tensor& dw, const Tensor& db, const bool (&accumulate)[2],
                 const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& mean, const Tensor& rstd) {
  const int64_t rows = x.size(0), width = x.size(1);
  const T* px = x.data<T>();
  const T* pw = w.data<T>();
  const T* pg = dy.data<T>();
  const T* pm = mean.data<T>();
  const T* pr = rstd.data<T>();
  if (dx.defined()) {
    T* pdx = dx.data<T>();
    // With xhat = (x - mean) r and h = w * dy: dx = r * (h - mean(h) - xhat * mean(h * xhat)).
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < rows; ++t) {
      const double mu = pm[t], r = pr[t];
      double sh = 0, shx = 0;
      for (int64_t c = 0; c < width; ++c) {
        const double h = static_cast<double>(pw[c]) * pg[t * width + c];
        sh += h;
        shx += h * (px[t * width + c] - mu) * r;
      }
      const double mh = sh / static_cast<double>(width), mhx = shx / static_cast<double>(width);
      for (int64_t c = 0; c < width; ++c) {
        const double xhat = (px[t * width + c] - mu) * r;
        pdx[t * width + c] =
            static_cast<T>(r * (static_cast<double>(pw[c]) * pg[t * width + c] - mh - xhat * mhx));
      }
    }
  }
  T* pdw = dw.data<T>();
  T* pdb = db.defined() ? db.data<T>() : nullptr;
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < width; ++c) {
    double sw = 0, sb = 0;
    for (int64_t t = 0; t < rows; ++t) {
      const double g = pg[t * width + c];
      sw += g * (px[t * width + c] - pm[t]) * pr[t];
      sb += g;
    }
    pdw[c] = accumulate[0] ? pdw[c] + static_cast<T>(sw) : static_cast<T>(sw);
    if (pdb) pdb[c] = accumulate[1] ? pdb[c] + static_cast<T>(sb) : static_cast<T>(sb);
  }
}

}  // namespace

namespace cpu {

void rmsnorm_forward(const Tensor& y, const Tensor& rstd, const Tensor& x, const Tensor& w, double eps) {
  ops_detail::dispatch_float(x.dtype(), "rmsnorm_forward",
                             [&](auto tag) { rms_forward<decltype(tag)>(y, rstd, x, w, eps); });
}

void rmsnorm_backward(const Tensor& dx, const Tensor& dw, bool accumulate_dw, const Tensor& dy,
                      const Tensor& x, const Tensor& w, const Tensor& rstd) {
  ops_detail::dispatch_float(x.dtype(), "rmsnorm_backward", [&](auto tag) {
    rms_backward<decltype(tag)>(dx, dw, accumulate_dw, dy, x, w, rstd);
  });
}

void layernorm_forward(const Tensor& y, const Tensor& mean, const Tensor& rstd, const Tensor& x,
                       const Tensor& w, const Tensor& b, double eps) {
  ops_detail::dispatch_float(x.dtype(), "layernorm_forward",
                             [&](auto tag) { ln_forward<decltype(tag)>(y, mean, rstd, x, w, b, eps); });
}

void layernorm_backward(const Tensor& dx, const Tensor& dw, const Tensor& db, const bool (&accumulate)[2],
                        const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& mean,
                        const Tensor& rstd) {
  ops_detail::dispatch_float(x.dtype(), "layernorm_backward", [&](auto tag) {
    ln_backward<decltype(tag)>(dx, dw, db, accumulate, dy, x, w, mean, rstd);
  });
}

}  // namespace cpu
}  // namespace strand
