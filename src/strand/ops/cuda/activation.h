// Pointwise activations on the GPU; see ops/activation.h.
#pragma once

#include "strand/ops/cuda/launch.h"

namespace strand::cuda {

// out [rows, cols] = silu(gate) * up. gate and up have leading dimension ld_in (both views into one fused
// [rows, 2*cols] buffer, or separate [rows, cols] buffers with ld_in = cols); out has ld_out.
void swiglu_forward(DType act, void* out, int64_t ld_out, const void* gate, const void* up, int64_t ld_in,
                    int64_t rows, int64_t cols, cudaStream_t stream);
// dgate, dup (assigned) with leading dimension ld_in; dout has ld_out.
void swiglu_backward(DType act, void* dgate, void* dup, const void* dout, int64_t ld_out, const void* gate,
                     const void* up, int64_t ld_in, int64_t rows, int64_t cols, cudaStream_t stream);

// Exact-erf GELU over n contiguous elements; dx assigned.
void gelu_forward(DType act, void* out, const void* x, int64_t n, cudaStream_t stream);
void gelu_backward(DType act, void* dx, const void* dout, const void* x, int64_t n, cudaStream_t stream);

}  // namespace strand::cuda
