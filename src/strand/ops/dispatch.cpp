#include "strand/ops/dispatch.h"

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
  return first != nullptr ? first->tensor.device() : Device::cpu();
}

void check_act(const Tensor& t, const char* name, const Shape& shape) {
  STRAND_CHECK(t.defined(), "{} is undefined", name);
  if (t.is_cpu()) {
    check_tensor(t, name, shape);
    return;
  }
  STRAND_CHECK(t.dtype() == DType::F32 || t.dtype() == DType::BF16, "{} must be F32 or BF16 on {}, got {}",
               name, t.device().str(), t.str());
  check_tensor(t, name, t.dtype(), shape);
}

DType stat_dtype(const Tensor& act) {
  return statistics_dtype(act);
}

void no_cuda(const char* op) {
  STRAND_CHECK(false, "{}: this strand was built without CUDA", op);
}

}  // namespace strand::ops_detail
