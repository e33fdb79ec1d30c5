// Internal: runs a templated kernel for the float dtype of the op's tensors.
#pragma once

#include "strand/core/tensor.h"

#include <initializer_list>

namespace strand::ops_detail {

template <typename Fn>
void dispatch_float(DType dtype, const char* op, Fn&& fn) {
  switch (dtype) {
    case DType::F32:
      fn(float{});
      return;
    case DType::F64:
      fn(double{});
      return;
    default:
      STRAND_CHECK(false, "{}: unsupported dtype {} (CPU ops take F32 or F64)", op, dtype_name(dtype));
  }
}

// A tensor argument and its name, for messages.
struct Arg {
  const char* name;
  const Tensor& tensor;
};

// The CUDA implementations arrive with the CUDA backend; until then a device tensor is a clear error.
// Undefined (optional, absent) tensors pass.
inline void check_cpu(const char* op, std::initializer_list<Arg> args) {
  for (const Arg& a : args)
    STRAND_CHECK(!a.tensor.defined() || a.tensor.is_cpu(),
                 "{}: {} is on {}, but only the CPU implementation exists", op, a.name,
                 a.tensor.device().str());
}

}  // namespace strand::ops_detail
