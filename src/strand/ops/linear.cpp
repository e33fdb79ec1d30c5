#include "strand/ops/linear.h"

#include "strand/ops/cpu/cpu_ops.h"
#include "strand/ops/dispatch.h"
#include "strand/ops/elementwise.h"
#include "strand/ops/work_profile.h"

#if defined(STRAND_WITH_CUDA)
#include "strand/cuda/runtime.h"
#include "strand/ops/cuda/gemm.h"
#endif

namespace strand {
namespace {

// The calling thread's live DeferredWeightGrads scopes, and whether side-stream work awaits their end.
struct Deferral {
  int depth = 0;
  bool side_work = false;
};
thread_local Deferral deferral;

#if defined(STRAND_WITH_CUDA)
// c [m, n] = op(a) op(b) over contiguous row-major tensors, op(a) [m, k] and op(b) [k, n] (a stored [k, m] if
// trans_a, b stored [n, k] if trans_b), each operand in its own dtype.
cuda::Gemm product(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const Tensor& a,
                   const Tensor& b, const Tensor& c) {
  cuda::Gemm g;
  g.trans_a = trans_a;
  g.trans_b = trans_b;
  g.m = m;
  g.n = n;
  g.k = k;
  g.a = {a.raw(), trans_a ? m : k, a.dtype()};
  g.b = {b.raw(), trans_b ? k : n, b.dtype()};
  g.c = {c.raw(), n, c.dtype()};
  return g;
}
#endif

}  // namespace

DeferredWeightGrads::DeferredWeightGrads() {
  ++deferral.depth;
}

DeferredWeightGrads::~DeferredWeightGrads() {
  if (--deferral.depth > 0 || !deferral.side_work) return;
  deferral.side_work = false;
#if defined(STRAND_WITH_CUDA)
  cuda::join_side();
#endif
}

void linear_forward(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor& b,
                    const Tensor& residual) {
  const char* op = "linear_forward";
  const Device device =
      ops_detail::common_device(op, {{"x", x}, {"w", w}, {"y", y}, {"b", b}, {"residual", residual}});
  ops_detail::check_act(x, "x", {-1, -1});
  const int64_t rows = x.size(0), in = x.size(1);
  check_tensor(w, "w", x.dtype(), {-1, in});
  const int64_t out = w.size(0);
  const WorkScope scope(WorkKind::gemm, device, op, {rows, out, in});
  check_tensor(y, "y", x.dtype(), {rows, out});
  if (b.defined()) check_tensor(b, "b", x.dtype(), {out});
  if (residual.defined()) check_tensor(residual, "residual", x.dtype(), {rows, out});
  if (device.type == DeviceType::CPU) {
    if (residual.defined() && residual.raw() != y.raw()) Tensor(y).copy_from(residual);
    cpu::linear_forward(y, x, w, b, residual.defined());
    return;
  }
#if defined(STRAND_WITH_CUDA)
  cuda::Gemm g = product(false, true, rows, out, in, x, w, y);
  g.bias = b.defined() ? b.raw() : nullptr;
  if (residual.defined()) {  // the product's epilogue reads the residual and writes the sum to y
    g.c_in = residual.raw();
    g.beta = 1;
  }
  cuda::gemm(g, cuda::stream());
#else
  ops_detail::no_cuda(op);
#endif
}

void linear_backward(const Tensor& dx, const Tensor& dw, const Tensor& db, const Tensor& dy, const Tensor& x,
                     const Tensor& w, GradWrite dw_write, GradWrite db_write) {
  const char* op = "linear_backward";
  const Device device =
      ops_detail::common_device(op, {{"x", x}, {"w", w}, {"dy", dy}, {"dw", dw}, {"dx", dx}, {"db", db}});
  ops_detail::check_act(x, "x", {-1, -1});
  const int64_t rows = x.size(0), in = x.size(1);
  check_tensor(w, "w", x.dtype(), {-1, in});
  const int64_t out = w.size(0);
  // Named apart so that a profile counts one product (dw) or two (dx and dw) per call.
  const WorkScope scope(WorkKind::gemm, device, dx.defined() ? op : "linear_backward_weights",
                        {rows, out, in});
  check_tensor(dy, "dy", x.dtype(), {rows, out});
  const DType grad_dtype = ops_detail::stat_dtype(x);
  check_tensor(dw, "dw", grad_dtype, w.shape());
  if (dx.defined()) check_tensor(dx, "dx", x.dtype(), x.shape());
  if (db.defined()) check_tensor(db, "db", grad_dtype, {out});
  if (rows == 0) {  // nothing to add; an assigned gradient is the empty sum
    if (dw_write == GradWrite::assign) zero(dw);
    if (db.defined() && db_write == GradWrite::assign) zero(db);
    return;
  }
  if (device.type == DeviceType::CPU) {
    cpu::linear_backward(dx, dw, db, dy, x, w, dw_write, db_write);
    return;
  }
#if defined(STRAND_WITH_CUDA)
  // dw's product has few output tiles and a long reduction, so it leaves much of the GPU idle in its last
  // wave; it runs on the side stream, overlapping dx's product and the bias sums (and, deferred, later ops).
  const bool overlap = dx.defined();
  cudaStream_t stream = cuda::stream();
  if (overlap) cuda::fork_side();
  cuda::Gemm g = product(true, false, out, in, rows, dy, x, dw);  // dw [N, K] (+)= dy^T [N, T] x [T, K], F32
  g.beta = dw_write == GradWrite::accumulate ? 1 : 0;
  cuda::gemm(g, overlap ? cuda::side_stream() : stream);
  if (dx.defined()) {  // dx [T, K] = dy [T, N] w [N, K]
    cuda::gemm(product(false, false, rows, in, out, dy, w, dx), stream);
  }
  if (db.defined())
    cuda::column_sum(x.dtype(), db.data<float>(), dy.raw(), rows, out, db_write == GradWrite::accumulate,
                     stream);
  if (overlap) {
    if (deferral.depth > 0) {
      deferral.side_work = true;
    } else {
      cuda::join_side();
    }
  }
#else
  ops_detail::no_cuda(op);
#endif
}

}  // namespace strand
