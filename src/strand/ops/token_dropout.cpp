#include "strand/ops/token_dropout.h"

#include "strand/ops/cpu/cpu_ops.h"
#include "strand/ops/dispatch.h"
#include "strand/ops/work_profile.h"

#include <cmath>

#if defined(STRAND_WITH_CUDA)
#include "strand/cuda/runtime.h"
#include "strand/ops/cuda/token_dropout.h"
#endif

namespace strand {

void token_dropout_scales(const Tensor& scales, const Tensor& tokens, const Tensor& cu_seqlens,
                          int32_t mask_id, int32_t pad_id, double mask_ratio_train) {
  const char* op = "token_dropout_scales";
  const Device device =
      ops_detail::common_device(op, {{"scales", scales}, {"tokens", tokens}, {"cu_seqlens", cu_seqlens}});
  const WorkScope scope(WorkKind::elementwise, device, op, shape_of(tokens));
  check_tensor(tokens, "tokens", DType::I32, {-1});
  const int64_t n_tokens = tokens.numel();
  if (device.type == DeviceType::CPU) {
    check_tensor(scales, "scales", {n_tokens});
  } else {
    check_tensor(scales, "scales", DType::F32, {n_tokens});
  }
  check_tensor(cu_seqlens, "cu_seqlens", DType::I32, {-1});
  STRAND_CHECK(cu_seqlens.numel() >= 1, "{}: cu_seqlens must have at least one entry", op);
  STRAND_CHECK(mask_id != pad_id, "{}: mask_id and pad_id must differ, both are {}", op, mask_id);
  STRAND_CHECK(std::isfinite(mask_ratio_train) && mask_ratio_train >= 0.0 && mask_ratio_train < 1.0,
               "{}: mask_ratio_train must be in [0, 1), got {}", op, mask_ratio_train);
  if (device.type == DeviceType::CPU) {
    cpu::token_dropout_scales(scales, tokens, cu_seqlens, mask_id, pad_id, mask_ratio_train);
    return;
  }
#if defined(STRAND_WITH_CUDA)
  cuda::token_dropout_scales(scales.data<float>(), tokens.data<int32_t>(), cu_seqlens.data<int32_t>(),
                             cu_seqlens.numel() - 1, mask_id, pad_id, mask_ratio_train, cuda::stream());
#else
  ops_detail::no_cuda(op);
#endif
}

void scale_rows(const Tensor& y, const Tensor& x, const Tensor& scales) {
  const char* op = "scale_rows";
  const Device device = ops_detail::common_device(op, {{"y", y}, {"x", x}, {"scales", scales}});
  const WorkScope scope(WorkKind::elementwise, device, op, shape_of(x));
  ops_detail::check_act(x, "x", {-1, -1});
  check_tensor(y, "y", x.dtype(), x.shape());
  check_tensor(scales, "scales", ops_detail::stat_dtype(x), {x.size(0)});
  if (device.type == DeviceType::CPU) {
    cpu::scale_rows(y, x, scales);
    return;
  }
#if defined(STRAND_WITH_CUDA)
  cuda::scale_rows(x.dtype(), y.raw(), x.raw(), scales.data<float>(), x.size(0), x.size(1), cuda::stream());
#else
  ops_detail::no_cuda(op);
#endif
}

}  // namespace strand
