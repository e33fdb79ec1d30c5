#include "strand/ops/elementwise.h"

#include "strand/ops/cpu/cpu_ops.h"
#include "strand/ops/dispatch.h"
#include "strand/ops/work_profile.h"

#include <cstring>

#if defined(STRAND_WITH_CUDA)
#include "strand/cuda/runtime.h"
#include "strand/ops/cuda/elementwise.h"
#endif

namespace strand {

void add_inplace(const Tensor& dst, const Tensor& src) {
  const char* op = "add_inplace";
  const Device device = ops_detail::common_device(op, {{"dst", dst}, {"src", src}});
  const WorkScope scope(WorkKind::elementwise, device, op, shape_of(dst));
  STRAND_CHECK(dst.defined() && dst.is_contiguous(), "dst must be a defined contiguous tensor");
  ops_detail::check_act(dst, "dst", dst.shape());
  check_tensor(src, "src", dst.dtype(), dst.shape());
  if (device.type == DeviceType::CPU) {
    cpu::add_inplace(dst, src);
    return;
  }
#if defined(STRAND_WITH_CUDA)
  cuda::add_inplace(dst.dtype(), dst.raw(), src.raw(), dst.numel(), cuda::stream());
#else
  ops_detail::no_cuda(op);
#endif
}

void convert(const Tensor& dst, const Tensor& src) {
  const char* op = "convert";
  const Device device = ops_detail::common_device(op, {{"dst", dst}, {"src", src}});
  const WorkScope scope(WorkKind::elementwise, device, op, shape_of(dst));
  STRAND_CHECK(dst.defined() && src.defined() && dst.is_contiguous() && src.is_contiguous(),
               "{}: dst and src must be defined and contiguous", op);
  STRAND_CHECK(dst.shape() == src.shape(), "{}: dst {} and src {} differ in shape", op, dst.str(), src.str());
  if (device.type == DeviceType::CPU) {
    Tensor(dst).copy_from(src);
    return;
  }
#if defined(STRAND_WITH_CUDA)
  check_tensor(src, "src", DType::F32, src.shape());
  ops_detail::check_act(dst, "dst", src.shape());
  cuda::cast_from_f32(dst.dtype(), dst.raw(), src.data<float>(), src.numel(), cuda::stream());
#else
  ops_detail::no_cuda(op);
#endif
}

void zero(const Tensor& t) {
  STRAND_CHECK(t.defined() && t.is_contiguous(), "zero: the tensor must be defined and contiguous");
  const WorkScope scope(WorkKind::elementwise, t.device(), "zero", shape_of(t));
  if (t.is_cpu()) {
    std::memset(t.raw(), 0, t.nbytes());
    return;
  }
#if defined(STRAND_WITH_CUDA)
  cuda::check_cuda(cudaMemsetAsync(t.raw(), 0, t.nbytes(), cuda::stream()), "cudaMemsetAsync");
#else
  ops_detail::no_cuda("zero");
#endif
}

void copy(const Tensor& dst, const Tensor& src) {
  const char* op = "copy";
  const Device device = ops_detail::common_device(op, {{"dst", dst}, {"src", src}});
  const WorkScope scope(WorkKind::elementwise, device, op, shape_of(dst));
  STRAND_CHECK(dst.defined(), "{}: dst is undefined", op);
  const int64_t ld_dst = ops_detail::check_rows(dst, "dst", dst.dtype(), dst.shape());
  const int64_t ld_src = ops_detail::check_rows(src, "src", dst.dtype(), dst.shape());
  int64_t rows = dst.size(0);
  if (rows == 0) return;
  const auto element = static_cast<int64_t>(dtype_size(dst.dtype()));
  int64_t row_bytes = dst.numel() / rows * element;
  int64_t src_pitch = ld_src * element, dst_pitch = ld_dst * element;
  if (dst.is_contiguous() && src.is_contiguous()) {  // one block, however narrow its rows
    row_bytes = src_pitch = dst_pitch = static_cast<int64_t>(dst.nbytes());
    rows = 1;
  }
  if (device.type == DeviceType::CPU) {
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(static_cast<char*>(dst.raw()) + r * dst_pitch,
                  static_cast<const char*>(src.raw()) + r * src_pitch, static_cast<size_t>(row_bytes));
    return;
  }
#if defined(STRAND_WITH_CUDA)
  cuda::check_cuda(cudaMemcpy2DAsync(dst.raw(), static_cast<size_t>(dst_pitch), src.raw(),
                                     static_cast<size_t>(src_pitch), static_cast<size_t>(row_bytes),
                                     static_cast<size_t>(rows), cudaMemcpyDeviceToDevice, cuda::stream()),
                   "cudaMemcpy2DAsync");
#else
  ops_detail::no_cuda(op);
#endif
}

}  // namespace strand
