#include "strand/ops/embedding.h"

#include "strand/ops/cpu/cpu_ops.h"
#include "strand/ops/dispatch.h"
#include "strand/ops/elementwise.h"
#include "strand/ops/work_profile.h"

#if defined(STRAND_WITH_CUDA)
#include "strand/cuda/runtime.h"
#include "strand/ops/cuda/embedding.h"
#endif

namespace strand {

// On CUDA the tokens are not range-checked (that would need a synchronisation): batches are checked against
// the vocabulary on the host before they are uploaded.
void embedding_forward(const Tensor& y, const Tensor& tokens, const Tensor& table) {
  const char* op = "embedding_forward";
  const Device device = ops_detail::common_device(op, {{"y", y}, {"tokens", tokens}, {"table", table}});
  const WorkScope scope(WorkKind::elementwise, device, op, shape_of(tokens));
  ops_detail::check_act(table, "table", {-1, -1});
  check_tensor(tokens, "tokens", DType::I32, {-1});
  check_tensor(y, "y", table.dtype(), {tokens.numel(), table.size(1)});
  if (device.type == DeviceType::CPU) {
    cpu::embedding_forward(y, tokens, table);
    return;
  }
#if defined(STRAND_WITH_CUDA)
  cuda::embedding_forward(table.dtype(), y.raw(), tokens.data<int32_t>(), table.raw(), tokens.numel(),
                          table.size(1), cuda::stream());
#else
  ops_detail::no_cuda(op);
#endif
}

void embedding_backward(const Tensor& dtable, const Tensor& dy, const Tensor& tokens, int64_t padding_idx,
                        GradWrite dtable_write) {
  const char* op = "embedding_backward";
  const Device device = ops_detail::common_device(op, {{"dtable", dtable}, {"dy", dy}, {"tokens", tokens}});
  const WorkScope scope(WorkKind::elementwise, device, op, shape_of(dy));
  check_tensor(tokens, "tokens", DType::I32, {-1});
  ops_detail::check_act(dy, "dy", {tokens.numel(), -1});
  check_tensor(dtable, "dtable", ops_detail::stat_dtype(dy), {-1, dy.size(1)});
  if (dtable_write == GradWrite::assign) zero(dtable);  // both kernels add into the rows they see
  if (device.type == DeviceType::CPU) {
    cpu::embedding_backward(dtable, dy, tokens, padding_idx);
    return;
  }
#if defined(STRAND_WITH_CUDA)
  cuda::embedding_backward(dy.dtype(), dtable.data<float>(), dy.raw(), tokens.data<int32_t>(), tokens.numel(),
                           dy.size(1), dtable.size(0), padding_idx, cuda::stream());
#else
  ops_detail::no_cuda(op);
#endif
}

}  // namespace strand
