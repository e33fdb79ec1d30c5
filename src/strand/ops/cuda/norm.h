// RMSNorm and LayerNorm on the GPU, one row per token; see ops/norm.h for the arithmetic.
#pragma once

#include "strand/ops/cuda/launch.h"

namespace strand::cuda {

// y [rows, cols] = w * x * rstd; rstd [rows] F32. x, y, w of dtype act.
// If residual is non-null, the normalised input is x + residual, written to sum_out [rows, cols] (the fused
// residual add of a pre-norm block); otherwise sum_out is unused and may be null.
void rmsnorm_forward(DType act, void* y, float* rstd, void* sum_out, const void* x, const void* residual,
                     const void* w, int64_t rows, int64_t cols, float eps, cudaStream_t stream);

// dx (assigned) = RMSNorm backward of dy at x (plus dresidual, when non-null: the gradient arriving through
// the residual branch, summed in before the single rounding to act). dx may be null (skipped). dw [cols] F32
// += (or, when not accumulate_dw, =) sum over rows of dy * x * rstd, reduced deterministically through
// `workspace` (rmsnorm_backward_workspace_bytes of it). With no rows, dw is left as it is.
void rmsnorm_backward(DType act, void* dx, float* dw, bool accumulate_dw, const void* dy,
                      const void* dresidual, const void* x, const void* w, const float* rstd, int64_t rows,
                      int64_t cols, void* workspace, cudaStream_t stream);
size_t rmsnorm_backward_workspace_bytes(int64_t rows, int64_t cols);

// y [rows, cols] = (x - mean) * rstd * w + b; mean, rstd [rows] F32. x, y, w, b of dtype act.
void layernorm_forward(DType act, void* y, float* mean, float* rstd, const void* x, const void* w,
                       const void* b, int64_t rows, int64_t cols, float eps, cudaStream_t stream);

// dx (assigned) = LayerNorm backward of dy at x, plus dresidual when non-null (summed in before the single
// rounding to act); dx may be null (skipped). dw [cols] F32 += sum over rows of dy * (x - mean) * rstd and
// db [cols] F32 (null: skipped) += sum over rows of dy, both reduced deterministically through `workspace`
// (layernorm_backward_workspace_bytes of it); `accumulate` false for one of them assigns it instead. With no
// rows, dw and db are left as they are.
void layernorm_backward(DType act, void* dx, float* dw, float* db, const bool (&accumulate)[2],
                        const void* dy, const void* dresidual, const void* x, const void* w,
                        const float* mean, const float* rstd, int64_t rows, int64_t cols, void* workspace,
                        cudaStream_t stream);
size_t layernorm_backward_workspace_bytes(int64_t rows, int64_t cols);

}  // namespace strand::cuda
