#include "strand/ops/dispatch.h"

#include "strand/core/device_memory.h"
#include "strand/ops/precision.h"

namespace strand::ops_detail {

Device common_device(const char* op, std::initializer_list<Arg> args) {
  const Arg* first = nullptr;
  for (const Arg& a : args) {
    if (!a.tensor.defined()) continue;
    if (first == nullptr) {
      first = &a;
      continue;
    }
    STRAND_CHECK(a.tensor.device() == first->tensor.device(), "{}: {} is on {} but {} is on {}", op, a.name,
                 a.tensor.device().str(), first->name, first->tensor.device().str());
  }
  if (first == nullptr) return Device::cpu();
  // CUDA ops run on the stream and handles of the thread's current device, so their tensors must live there.
  const Device device = first->tensor.device();
  STRAND_CHECK(device.type == DeviceType::CPU || device == current_cuda_device(),
               "{}: {} is on {} but this thread's device is {} (select_device)", op, first->name,
               device.str(), current_cuda_device().str());
  return device;
}

namespace {

void check_act_dtype(const Tensor& t, const char* name) {
  STRAND_CHECK(t.defined(), "{} is undefined", name);
  if (t.is_cpu()) {
    STRAND_CHECK(t.dtype() == DType::F32 || t.dtype() == DType::F64, "{} must be F32 or F64, got {}", name,
                 t.str());
  } else {
    STRAND_CHECK(t.dtype() == DType::F32 || t.dtype() == DType::BF16, "{} must be F32 or BF16 on {}, got {}",
                 name, t.device().str(), t.str());
  }
}

}  // namespace

void check_act(const Tensor& t, const char* name, const Shape& shape) {
  check_act_dtype(t, name);
  check_tensor(t, name, t.dtype(), shape);
}

int64_t check_act_rows(const Tensor& t, const char* name, const Shape& shape) {
  check_act_dtype(t, name);
  return check_rows(t, name, t.dtype(), shape);
}

int64_t check_rows(const Tensor& t, const char* name, DType dtype, const Shape& shape) {
  STRAND_CHECK(t.defined(), "{} is undefined", name);
  STRAND_CHECK(t.dtype() == dtype, "{} must be {}, got {}", name, dtype_name(dtype), t.str());
  bool ok = t.rank() == shape.rank() && t.rank() >= 1;
  for (int i = 0; ok && i < shape.rank(); ++i) ok = shape[i] < 0 || shape[i] == t.shape()[i];
  STRAND_CHECK(ok, "{} must have shape {}, got {}", name, shape.str(), t.str());
  int64_t row = 1;
  bool rows_contiguous = true;
  for (int i = t.rank() - 1; i >= 1; --i) {
    if (t.size(i) != 1 && t.stride(i) != row) rows_contiguous = false;
    row *= t.size(i);
  }
  const int64_t stride = t.size(0) <= 1 ? row : t.stride(0);
  STRAND_CHECK(rows_contiguous && stride >= row,
               "{} ({}) must have contiguous rows of {} elements at least that far apart", name, t.str(),
               row);
  return stride;
}

DType stat_dtype(const Tensor& act) {
  return statistics_dtype(act);
}

void no_cuda(const char* op) {
  STRAND_CHECK(false, "{}: this strand was built without CUDA", op);
}

}  // namespace strand::ops_detail
