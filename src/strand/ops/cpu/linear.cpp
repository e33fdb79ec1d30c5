#include "strand/ops/linear.h"

#include "strand/ops/cpu/cpu_ops.h"
#include "strand/ops/dispatch.h"

#include <cblas.h>

namespace strand {
namespace {

using ops_detail::dispatch_float;

// Row-major C[M, N] = alpha * op(A) op(B) + beta * C through OpenBLAS.
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              static_cast<blasint>(m), static_cast<blasint>(n), static_cast<blasint>(k), alpha, a,
              static_cast<blasint>(lda), b, static_cast<blasint>(ldb), beta, c, static_cast<blasint>(ldc));
}
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
          int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              static_cast<blasint>(m), static_cast<blasint>(n), static_cast<blasint>(k), alpha, a,
              static_cast<blasint>(lda), b, static_cast<blasint>(ldb), beta, c, static_cast<blasint>(ldc));
}

template <typename T>
void forward(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor& b, bool accumulate) {
  const int64_t rows = x.size(0), in = x.size(1), out = w.size(0);
  if (rows == 0) return;
  gemm(false, true, rows, out, in, T{1}, x.data<T>(), in, w.data<T>(), in, accumulate ? T{1} : T{0},
       y.data<T>(), out);
  if (!b.defined()) return;
  const T* bias = b.data<T>();
  T* py = y.data<T>();
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < rows; ++t)
    for (int64_t n = 0; n < out; ++n) py[t * out + n] += bias[n];
}

template <typename T>
void backward(const Tensor& dx, const Tensor& dw, const Tensor& db, const Tensor& dy, const Tensor& x,
              const Tensor& w, GradWrite dw_write, GradWrite db_write) {
  const int64_t rows = x.size(0), in = x.size(1), out = w.size(0);
  if (dx.defined())
    gemm(false, false, rows, in, out, T{1}, dy.data<T>(), out, w.data<T>(), in, T{0}, dx.data<T>(), in);
  gemm(true, false, out, in, rows, T{1}, dy.data<T>(), out, x.data<T>(), in,
       dw_write == GradWrite::accumulate ? T{1} : T{0}, dw.data<T>(), in);
  if (db.defined()) {
    const T* pdy = dy.data<T>();
    T* pdb = db.data<T>();
    const bool accumulate = db_write == GradWrite::accumulate;
    // Columns in parallel, rows in order: the same sums for any thread count.
#pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < out; ++n) {
      T s = 0;
      for (int64_t t = 0; t < rows; ++t) s += pdy[t * out + n];
      pdb[n] = accumulate ? pdb[n] + s : s;
    }
  }
}

}  // namespace

namespace cpu {

void linear_forward(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor& b, bool accumulate) {
  ops_detail::dispatch_float(x.dtype(), "linear_forward",
                             [&](auto tag) { forward<decltype(tag)>(y, x, w, b, accumulate); });
}

void linear_backward(const Tensor& dx, const Tensor& dw, const Tensor& db, const Tensor& dy, const Tensor& x,
                     const Tensor& w, GradWrite dw_write, GradWrite db_write) {
  ops_detail::dispatch_float(x.dtype(), "linear_backward", [&](auto tag) {
    backward<decltype(tag)>(dx, dw, db, dy, x, w, dw_write, db_write);
  });
}

}  // namespace cpu
}  // namespace strand
