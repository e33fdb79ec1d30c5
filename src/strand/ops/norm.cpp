#include "strand/ops/norm.h"

#include "strand/ops/cpu/cpu_ops.h"
#include "strand/ops/dispatch.h"
#include "strand/ops/elementwise.h"
#include "strand/ops/work_profile.h"

#if defined(STRAND_WITH_CUDA)
#include "strand/cuda/runtime.h"
#include "strand/ops/cuda/norm.h"
#endif

namespace strand {

void rmsnorm_forward(const Tensor& y, const Tensor& rstd, const Tensor& x, const Tensor& w, double eps) {
  const char* op = "rmsnorm_forward";
  const Device device = ops_detail::common_device(op, {{"y", y}, {"rstd", rstd}, {"x", x}, {"w", w}});
  const WorkScope scope(WorkKind::elementwise, device, op, shape_of(x));
  ops_detail::check_act(x, "x", {-1, -1});
  const int64_t rows = x.size(0), cols = x.size(1);
  check_tensor(w, "w", x.dtype(), {cols});
  check_tensor(y, "y", x.dtype(), x.shape());
  check_tensor(rstd, "rstd", ops_detail::stat_dtype(x), {rows});
  if (device.type == DeviceType::CPU) {
    cpu::rmsnorm_forward(y, rstd, x, w, eps);
    return;
  }
#if defined(STRAND_WITH_CUDA)
  cuda::rmsnorm_forward(x.dtype(), y.raw(), rstd.data<float>(), nullptr, x.raw(), nullptr, w.raw(), rows,
                        cols, static_cast<float>(eps), cuda::stream());
#else
  ops_detail::no_cuda(op);
#endif
}

void rmsnorm_backward(const Tensor& dx, const Tensor& dw, const Tensor& dy, const Tensor& x, const Tensor& w,
                      const Tensor& rstd, const Tensor& dresidual, GradWrite dw_write) {
  const char* op = "rmsnorm_backward";
  const Device device = ops_detail::common_device(
      op, {{"dx", dx}, {"dw", dw}, {"dy", dy}, {"x", x}, {"w", w}, {"rstd", rstd}, {"dresidual", dresidual}});
  const WorkScope scope(WorkKind::elementwise, device, op, shape_of(x));
  ops_detail::check_act(x, "x", {-1, -1});
  const int64_t rows = x.size(0), cols = x.size(1);
  check_tensor(w, "w", x.dtype(), {cols});
  check_tensor(dy, "dy", x.dtype(), x.shape());
  check_tensor(dw, "dw", ops_detail::stat_dtype(x), w.shape());
  check_tensor(rstd, "rstd", ops_detail::stat_dtype(x), {rows});
  if (dx.defined()) check_tensor(dx, "dx", x.dtype(), x.shape());
  if (dresidual.defined()) {
    STRAND_CHECK(dx.defined(), "{}: dresidual needs dx", op);
    check_tensor(dresidual, "dresidual", x.dtype(), x.shape());
  }
  if (rows == 0) {  // nothing to add; an assigned gradient is the empty sum
    if (dw_write == GradWrite::assign) zero(dw);
    return;
  }
  const bool accumulate_dw = dw_write == GradWrite::accumulate;
  if (device.type == DeviceType::CPU) {
    cpu::rmsnorm_backward(dx, dw, accumulate_dw, dy, x, w, rstd);
    if (dresidual.defined()) cpu::add_inplace(dx, dresidual);
    return;
  }
#if defined(STRAND_WITH_CUDA)
  void* workspace = cuda::scratch(cuda::rmsnorm_backward_workspace_bytes(rows, cols));
  cuda::rmsnorm_backward(x.dtype(), dx.defined() ? dx.raw() : nullptr, dw.data<float>(), accumulate_dw,
                         dy.raw(), dresidual.defined() ? dresidual.raw() : nullptr, x.raw(), w.raw(),
                         rstd.data<float>(), rows, cols, workspace, cuda::stream());
#else
  ops_detail::no_cuda(op);
#endif
}

void layernorm_forward(const Tensor& y, const Tensor& mean, const Tensor& rstd, const Tensor& x,
                       const Tensor& w, const Tensor& b, double eps) {
  const char* op = "layernorm_forward";
  const Device device =
      ops_detail::common_device(op, {{"y", y}, {"mean", mean}, {"rstd", rstd}, {"x", x}, {"w", w}, {"b", b}});
  const WorkScope scope(WorkKind::elementwise, device, op, shape_of(x));
  ops_detail::check_act(x, "x", {-1, -1});
  const int64_t rows = x.size(0), cols = x.size(1);
  check_tensor(w, "w", x.dtype(), {cols});
  check_tensor(b, "b", x.dtype(), {cols});
  check_tensor(y, "y", x.dtype(), x.shape());
  check_tensor(mean, "mean", ops_detail::stat_dtype(x), {rows});
  check_tensor(rstd, "rstd", ops_detail::stat_dtype(x), {rows});
  if (device.type == DeviceType::CPU) {
    cpu::layernorm_forward(y, mean, rstd, x, w, b, eps);
    return;
  }
#if defined(STRAND_WITH_CUDA)
  cuda::layernorm_forward(x.dtype(), y.raw(), mean.data<float>(), rstd.data<float>(), x.raw(), w.raw(),
                          b.raw(), rows, cols, static_cast<float>(eps), cuda::stream());
#else
  ops_detail::no_cuda(op);
#endif
}

void layernorm_backward(const Tensor& dx, const Tensor& dw, const Tensor& db, const Tensor& dy,
                        const Tensor& x, const Tensor& w, const Tensor& mean, const Tensor& rstd,
                        const Tensor& dresidual, GradWrite dw_write, GradWrite db_write) {
  const char* op = "layernorm_backward";
  const Device device = ops_detail::common_device(op, {{"dx", dx},
                                                       {"dw", dw},
                                                       {"db", db},
                                                       {"dy", dy},
                                                       {"x", x},
                                                       {"w", w},
                                                       {"mean", mean},
                                                       {"rstd", rstd},
                                                       {"dresidual", dresidual}});
  const WorkScope scope(WorkKind::elementwise, device, op, shape_of(x));
  ops_detail::check_act(x, "x", {-1, -1});
  const int64_t rows = x.size(0), cols = x.size(1);
  check_tensor(w, "w", x.dtype(), {cols});
  check_tensor(dy, "dy", x.dtype(), x.shape());
  check_tensor(dw, "dw", ops_detail::stat_dtype(x), w.shape());
  check_tensor(mean, "mean", ops_detail::stat_dtype(x), {rows});
  check_tensor(rstd, "rstd", ops_detail::stat_dtype(x), {rows});
  if (db.defined()) check_tensor(db, "db", ops_detail::stat_dtype(x), w.shape());
  if (dx.defined()) check_tensor(dx, "dx", x.dtype(), x.shape());
  if (dresidual.defined()) {
    STRAND_CHECK(dx.defined(), "{}: dresidual needs dx", op);
    check_tensor(dresidual, "dresidual", x.dtype(), x.shape());
  }
  if (rows == 0) {  // nothing to add; an assigned gradient is the empty sum
    if (dw_write == GradWrite::assign) zero(dw);
    if (db.defined() && db_write == GradWrite::assign) zero(db);
    return;
  }
  const bool accumulate[2] = {dw_write == GradWrite::accumulate, db_write == GradWrite::accumulate};
  if (device.type == DeviceType::CPU) {
    cpu::layernorm_backward(dx, dw, db, accumulate, dy, x, w, mean, rstd);
    if (dresidual.defined()) cpu::add_inplace(dx, dresidual);
    return;
  }
#if defined(STRAND_WITH_CUDA)
  void* workspace = cuda::scratch(cuda::layernorm_backward_workspace_bytes(rows, cols));
  cuda::layernorm_backward(x.dtype(), dx.defined() ? dx.raw() : nullptr, dw.data<float>(),
                           db.defined() ? db.data<float>() : nullptr, accumulate, dy.raw(),
                           dresidual.defined() ? dresidual.raw() : nullptr, x.raw(), w.raw(),
                           mean.data<float>(), rstd.data<float>(), rows, cols, workspace, cuda::stream());
#else
  ops_detail::no_cuda(op);
#endif
}

}  // namespace strand
