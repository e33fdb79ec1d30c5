// Linear layer: y = x W^T + b, PyTorch's nn.Linear layout (W is [out, in]).
#pragma once

#include "strand/core/tensor.h"

namespace strand {

// y [T, N] = x [T, K] @ w [N, K]^T + b [N] + residual [T, N]   (b and residual optional; the residual add
// of a pre-norm block fused into the product)
void linear_forward(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor& b,
                    const Tensor& residual = Tensor());

// dx [T, K]  = dy @ w                (assigned; skipped if dx is undefined)
// dw [N, K] += dy^T @ x
// db [N]    += sum_t dy[t]           (skipped if db is undefined)
void linear_backward(const Tensor& dx, const Tensor& dw, const Tensor& db, const Tensor& dy, const Tensor& x,
                     const Tensor& w);

}  // namespace strand
