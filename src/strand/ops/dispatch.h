// Internal: argument checks shared by the ops' entry points, and the CPU kernels' dtype dispatch.
//
// Every entry point (ops/*.cpp) checks its arguments here, then runs the CPU reference (ops/cpu/) or the CUDA
// launcher (ops/cuda/) for the device its tensors are on. Dtype rules by device:
//   CPU:  every float tensor of an op has one dtype, F32 (the reference) or F64 (gradient checks);
//   CUDA: activations and weight compute copies ("act") are F32 or BF16; statistics (rstd, lse, losses) and
//         parameter gradients are F32.
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

// The device every defined argument is on; an argument on another device, or CUDA tensors on a device other
// than the thread's current one, is an error naming it.
Device common_device(const char* op, std::initializer_list<Arg> args);

// An activation (or weight) tensor: defined, contiguous, of `shape` (-1 matches any extent) and of a float
// dtype the device computes in (CPU: F32 or F64; CUDA: F32 or BF16).
void check_act(const Tensor& t, const char* name, const Shape& shape);

// The same for an activation whose rows may lie apart: a [T, ...] slice of a wider tensor, as q, k and v are
// column slices of one fused projection's output. Every dimension after the first is contiguous and the
// first strides by at least a row. Returns that row stride in elements.
int64_t check_act_rows(const Tensor& t, const char* name, const Shape& shape);
// check_act_rows with the dtype given (the other operands of an op whose first fixed it).
int64_t check_rows(const Tensor& t, const char* name, DType dtype, const Shape& shape);

// The dtype of statistics and parameter gradients that go with activations `act`: act itself on the CPU,
// F32 on CUDA.
DType stat_dtype(const Tensor& act);

// Thrown from the CUDA branch of an entry point in a build without CUDA (unreachable: such a build cannot
// allocate CUDA tensors).
[[noreturn]] void no_cuda(const char* op);

}  // namespace strand::ops_detail
