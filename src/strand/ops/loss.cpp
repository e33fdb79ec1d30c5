#include "strand/ops/loss.h"

#include "strand/ops/cpu/cpu_ops.h"
#include "strand/ops/dispatch.h"
#include "strand/ops/work_profile.h"

#if defined(STRAND_WITH_CUDA)
#include "strand/cuda/runtime.h"
#include "strand/ops/cuda/loss.h"
#endif

namespace strand {
namespace {

// logits [T, V] (act); labels [T] I32; losses, lse [T] and weights [T] (optional) in the statistics dtype.
void check_inputs(const char* op, const Tensor& logits, const Tensor& labels, const Tensor& weights) {
  ops_detail::check_act(logits, "logits", {-1, -1});
  check_tensor(labels, "labels", DType::I32, {logits.size(0)});
  if (weights.defined()) check_tensor(weights, "weights", ops_detail::stat_dtype(logits), {logits.size(0)});
#if defined(STRAND_WITH_CUDA)
  STRAND_CHECK(logits.is_cpu() || logits.size(1) <= cuda::kMaxCrossEntropyVocab,
               "{}: the CUDA kernel handles vocabularies up to {}, got {}", op, cuda::kMaxCrossEntropyVocab,
               logits.size(1));
#else
  (void)op;
#endif
}

}  // namespace

void cross_entropy_forward(const Tensor& losses, const Tensor& lse, const Tensor& sums, const Tensor& logits,
                           const Tensor& labels, const Tensor& weights, int32_t ignore_index) {
  const char* op = "cross_entropy_forward";
  const Device device = ops_detail::common_device(op, {{"losses", losses},
                                                       {"lse", lse},
                                                       {"sums", sums},
                                                       {"logits", logits},
                                                       {"labels", labels},
                                                       {"weights", weights}});
  const WorkScope scope(WorkKind::elementwise, device, op, shape_of(logits));
  check_inputs(op, logits, labels, weights);
  check_tensor(losses, "losses", ops_detail::stat_dtype(logits), {logits.size(0)});
  check_tensor(lse, "lse", ops_detail::stat_dtype(logits), {logits.size(0)});
  check_tensor(sums, "sums", DType::F64, {3});
  if (device.type == DeviceType::CPU) {
    const LossSums s = cpu::cross_entropy_forward(losses, lse, logits, labels, weights, ignore_index);
    double* p = sums.data<double>();
    p[0] += s.loss_sum;
    p[1] += s.weight_sum;
    p[2] += static_cast<double>(s.tokens);
    return;
  }
#if defined(STRAND_WITH_CUDA)
  cuda::cross_entropy_forward(logits.dtype(), losses.data<float>(), lse.data<float>(), sums.data<double>(),
                              logits.raw(), labels.data<int32_t>(),
                              weights.defined() ? weights.data<float>() : nullptr, logits.size(0),
                              logits.size(1), ignore_index, cuda::stream());
#else
  ops_detail::no_cuda(op);
#endif
}

LossSums cross_entropy_forward(const Tensor& losses, const Tensor& lse, const Tensor& logits,
                               const Tensor& labels, const Tensor& weights, int32_t ignore_index) {
  const Tensor sums = Tensor::zeros({3}, DType::F64, logits.defined() ? logits.device() : Device::cpu());
  cross_entropy_forward(losses, lse, sums, logits, labels, weights, ignore_index);
  const Tensor host = sums.to(Device::cpu());  // synchronises on CUDA
  LossSums s;
  s.loss_sum = host.data<double>()[0];
  s.weight_sum = host.data<double>()[1];
  s.tokens = static_cast<int64_t>(host.data<double>()[2]);
  return s;
}

void cross_entropy_backward(const Tensor& dlogits, const Tensor& logits, const Tensor& labels,
                            const Tensor& weights, const Tensor& lse, double scale, int32_t ignore_index) {
  const char* op = "cross_entropy_backward";
  const Device device = ops_detail::common_device(
      op, {{"dlogits", dlogits}, {"logits", logits}, {"labels", labels}, {"weights", weights}, {"lse", lse}});
  const WorkScope scope(WorkKind::elementwise, device, op, shape_of(logits));
  check_inputs(op, logits, labels, weights);
  check_tensor(dlogits, "dlogits", logits.dtype(), logits.shape());
  check_tensor(lse, "lse", ops_detail::stat_dtype(logits), {logits.size(0)});
  if (device.type == DeviceType::CPU) {
    cpu::cross_entropy_backward(dlogits, logits, labels, weights, lse, scale, ignore_index);
    return;
  }
#if defined(STRAND_WITH_CUDA)
  cuda::cross_entropy_backward(logits.dtype(), dlogits.raw(), logits.raw(), labels.data<int32_t>(),
                               weights.defined() ? weights.data<float>() : nullptr, lse.data<float>(),
                               static_cast<float>(scale), nullptr, logits.size(0), logits.size(1),
                               ignore_index, cuda::stream());
#else
  ops_detail::no_cuda(op);
#endif
}

}  // namespace strand
