// Linear layer: y = x W^T + b, PyTorch's nn.Linear layout (W is [out, in]).
#pragma once

#include "strand/core/tensor.h"
#include "strand/ops/grad_write.h"

namespace strand {

// y [T, N] = x [T, K] @ w [N, K]^T + b [N] + residual [T, N]   (b and residual optional; the residual add
// of a pre-norm block fused into the product)
void linear_forward(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor& b,
                    const Tensor& residual = Tensor());

// dx [T, K]  = dy @ w                (assigned; skipped if dx is undefined)
// dw [N, K] += dy^T @ x              (= when dw_write is assign: the product then skips reading dw)
// db [N]    += sum_t dy[t]           (= when db_write is assign; skipped if db is undefined)
// With T = 0 an assigned dw or db becomes zero.
void linear_backward(const Tensor& dx, const Tensor& dw, const Tensor& db, const Tensor& dy, const Tensor& x,
                     const Tensor& w, GradWrite dw_write, GradWrite db_write);

// On the GPU, linear_backward's dw product runs on a side stream, overlapping the dx product; it is waited
// for before linear_backward returns, unless a DeferredWeightGrads is alive on the calling thread: then it is
// waited for when the outermost one ends, so it also overlaps the ops in between (the GELU backward of an
// MLP, the attention backward). The caller keeps dy, x and dw untouched, and dy's and x's memory allocated,
// until then. Nothing changes on the CPU.
class DeferredWeightGrads {
 public:
  DeferredWeightGrads();
  ~DeferredWeightGrads();
  DeferredWeightGrads(const DeferredWeightGrads&) = delete;
  DeferredWeightGrads& operator=(const DeferredWeightGrads&) = delete;
};

}  // namespace strand
