// Internal: runs a templated kernel for the float dtype of the op's tensors.
#pragma once

#include "strand/core/tensor.h"

#include <initializer_list>

namespace strand::ops_detail {

template <typename Fn>
void dispatch_float(DType dtype, const char* op, Fn&& fn) {
  switch (dtype) {
    case DType::F32: fn(float{}); return;
    case DType::F64: fn(double{}); return;
    default: STRAND_CHECK(false, "{}: unsupported dtype {} (CPU ops take F32 or F64)", op, dtype_name(dtype));
  }
}

// The CUDA implementations arrive with the CUDA backend; until then a device tensor is a clear error.
inline void check_cpu(const char* op, std::initializer_list<const Tensor*> tensors) {
  for (const Tensor* t : tensors)
    STRAND_CHECK(!t->defined() || t->is_cpu(), "{}: got {}, but only the CPU implementation exists", op, t->str());
}

inline void check_cpu(const Tensor& t, const char* op, const char* name) {
  STRAND_CHECK(!t.defined() || t.is_cpu(), "{}: {} is on {}, but only the CPU implementation exists", op, name,
               t.device().str());
}

}  // namespace strand::ops_detail
