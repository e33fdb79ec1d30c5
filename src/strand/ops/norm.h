// Normalisations over the last dimension, statistics in the op's dtype (fp32 for the reference, like
// transformers, which upcasts to fp32 inside both norms).
#pragma once

#include "strand/core/tensor.h"
#include "strand/ops/grad_write.h"

namespace strand {

// The weight and bias gradients (dw, db) are added to (+=) or assigned (=, with no rows: zero), as their
// GradWrite argument says.

// RMSNorm (Llama): y = w * x * rstd,  rstd [T] = 1 / sqrt(mean(x^2) + eps)   (rstd saved for backward)
// x, y [T, C]; w [C]
void rmsnorm_forward(const Tensor& y, const Tensor& rstd, const Tensor& x, const Tensor& w, double eps);
// dx (assigned) = the norm's input gradient + dresidual (optional: the gradient reaching x through a residual
// connection, summed in by the same pass); dw (+= or = by dw_write)
void rmsnorm_backward(const Tensor& dx, const Tensor& dw, const Tensor& dy, const Tensor& x, const Tensor& w,
                      const Tensor& rstd, const Tensor& dresidual, GradWrite dw_write);

// LayerNorm (ESM-2): y = (x - mean) * rstd * w + b, rstd = 1 / sqrt(var + eps), biased variance.
// x, y [T, C]; w, b [C]; mean, rstd [T] saved.
void layernorm_forward(const Tensor& y, const Tensor& mean, const Tensor& rstd, const Tensor& x,
                       const Tensor& w, const Tensor& b, double eps);
// dx (assigned) = the norm's input gradient + dresidual (optional, as in rmsnorm_backward); dw and db (+= or
// = by dw_write, db_write), db optional.
void layernorm_backward(const Tensor& dx, const Tensor& dw, const Tensor& db, const Tensor& dy,
                        const Tensor& x, const Tensor& w, const Tensor& mean, const Tensor& rstd,
                        const Tensor& dresidual, GradWrite dw_write, GradWrite db_write);

}  // namespace strand
