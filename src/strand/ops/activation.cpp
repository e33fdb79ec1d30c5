#include "strand/ops/activation.h"

#include "strand/ops/cpu/cpu_ops.h"
#include "strand/ops/dispatch.h"
#include "strand/ops/work_profile.h"

#if defined(STRAND_WITH_CUDA)
#include "strand/cuda/runtime.h"
#include "strand/ops/cuda/activation.h"
#endif

namespace strand {
namespace {

void check_same(const Tensor& a, const char* name, const Tensor& ref) {
  check_tensor(a, name, ref.dtype(), ref.shape());
}

}  // namespace

void swiglu_forward(const Tensor& out, const Tensor& gate, const Tensor& up) {
  const char* op = "swiglu_forward";
  const Device device = ops_detail::common_device(op, {{"out", out}, {"gate", gate}, {"up", up}});
  const WorkScope scope(WorkKind::elementwise, device, op, shape_of(gate));
  const int64_t ld_gate = ops_detail::check_act_rows(gate, "gate", {-1, -1});
  const int64_t ld_up = ops_detail::check_rows(up, "up", gate.dtype(), gate.shape());
  const int64_t ld_out = ops_detail::check_rows(out, "out", gate.dtype(), gate.shape());
  if (device.type == DeviceType::CPU) {
    cpu::swiglu_forward(out, ld_out, gate, ld_gate, up, ld_up);
    return;
  }
#if defined(STRAND_WITH_CUDA)
  cuda::swiglu_forward(gate.dtype(), gate.size(0), gate.size(1), {out.raw(), ld_out}, {gate.raw(), ld_gate},
                       {up.raw(), ld_up}, cuda::stream());
#else
  ops_detail::no_cuda(op);
#endif
}

void swiglu_backward(const Tensor& dgate, const Tensor& dup, const Tensor& dout, const Tensor& gate,
                     const Tensor& up) {
  const char* op = "swiglu_backward";
  const Device device = ops_detail::common_device(
      op, {{"dgate", dgate}, {"dup", dup}, {"dout", dout}, {"gate", gate}, {"up", up}});
  const WorkScope scope(WorkKind::elementwise, device, op, shape_of(gate));
  const int64_t ld_gate = ops_detail::check_act_rows(gate, "gate", {-1, -1});
  const int64_t ld_up = ops_detail::check_rows(up, "up", gate.dtype(), gate.shape());
  const int64_t ld_dout = ops_detail::check_rows(dout, "dout", gate.dtype(), gate.shape());
  const int64_t ld_dgate = ops_detail::check_rows(dgate, "dgate", gate.dtype(), gate.shape());
  const int64_t ld_dup = ops_detail::check_rows(dup, "dup", gate.dtype(), gate.shape());
  if (device.type == DeviceType::CPU) {
    cpu::swiglu_backward(dgate, ld_dgate, dup, ld_dup, dout, ld_dout, gate, ld_gate, up, ld_up);
    return;
  }
#if defined(STRAND_WITH_CUDA)
  cuda::swiglu_backward(gate.dtype(), gate.size(0), gate.size(1), {dgate.raw(), ld_dgate},
                        {dup.raw(), ld_dup}, {dout.raw(), ld_dout}, {gate.raw(), ld_gate}, {up.raw(), ld_up},
                        cuda::stream());
#else
  ops_detail::no_cuda(op);
#endif
}

void gelu_forward(const Tensor& out, const Tensor& x) {
  const char* op = "gelu_forward";
  const Device device = ops_detail::common_device(op, {{"out", out}, {"x", x}});
  const WorkScope scope(WorkKind::elementwise, device, op, shape_of(x));
  STRAND_CHECK(x.defined() && x.is_contiguous(), "x must be a defined contiguous tensor");
  ops_detail::check_act(x, "x", x.shape());
  check_same(out, "out", x);
  if (device.type == DeviceType::CPU) {
    cpu::gelu_forward(out, x);
    return;
  }
#if defined(STRAND_WITH_CUDA)
  cuda::gelu_forward(x.dtype(), out.raw(), x.raw(), x.numel(), cuda::stream());
#else
  ops_detail::no_cuda(op);
#endif
}

void gelu_backward(const Tensor& dx, const Tensor& dout, const Tensor& x) {
  const char* op = "gelu_backward";
  const Device device = ops_detail::common_device(op, {{"dx", dx}, {"dout", dout}, {"x", x}});
  const WorkScope scope(WorkKind::elementwise, device, op, shape_of(x));
  STRAND_CHECK(x.defined() && x.is_contiguous(), "x must be a defined contiguous tensor");
  ops_detail::check_act(x, "x", x.shape());
  check_same(dout, "dout", x);
  check_same(dx, "dx", x);
  if (device.type == DeviceType::CPU) {
    cpu::gelu_backward(dx, dout, x);
    return;
  }
#if defined(STRAND_WITH_CUDA)
  cuda::gelu_backward(x.dtype(), dx.raw(), dout.raw(), x.raw(), x.numel(), cuda::stream());
#else
  ops_detail::no_cuda(op);
#endif
}

}  // namespace strand
