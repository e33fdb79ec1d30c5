// Pointwise activations on the GPU; see ops/activation.h.
#pragma once

#include "strand/ops/cuda/launch.h"

namespace strand::cuda {

// A row-major [rows, cols] matrix whose rows lie `ld` elements apart: a column slice of a wider buffer (the
// gate or up half of the fused gate/up product), or ld = cols.
struct StridedRows {
  void* data;
  int64_t ld;
};
struct ConstStridedRows {
  const void* data;
  int64_t ld;
};

// out [rows, cols] = silu(gate) * up.
void swiglu_forward(DType act, int64_t rows, int64_t cols, StridedRows out, ConstStridedRows gate,
                    ConstStridedRows up, cudaStream_t stream);
// dgate, dup [rows, cols] (assigned) from dout, gate and up.
void swiglu_backward(DType act, int64_t rows, int64_t cols, StridedRows dgate, StridedRows dup,
                     ConstStridedRows dout, ConstStridedRows gate, ConstStridedRows up, cudaStream_t stream);

// Exact-erf GELU over n contiguous elements; dx assigned.
void gelu_forward(DType act, void* out, const void* x, int64_t n, cudaStream_t stream);
void gelu_backward(DType act, void* dx, const void* dout, const void* x, int64_t n, cudaStream_t stream);

}  // namespace strand::cuda
