// Pointwise activations of the feed-forward blocks.
#pragma once

#include "strand/core/tensor.h"

namespace strand {

// SwiGLU (Llama MLP): out = silu(gate) * up, silu(g) = g * sigmoid(g). All [T, F], each with contiguous rows
// that may lie apart (a column slice of a wider buffer, as gate and up are the two halves of the fused
// gate/up product [T, 2F]).
void swiglu_forward(const Tensor& out, const Tensor& gate, const Tensor& up);
// dgate, dup (assigned; may be the halves of one [T, 2F] gradient buffer, like gate and up)
void swiglu_backward(const Tensor& dgate, const Tensor& dup, const Tensor& dout, const Tensor& gate,
                     const Tensor& up);

// GELU, exact erf form (ESM-2, nn.GELU() default): out = x/2 * (1 + erf(x / sqrt 2)). Any shape.
void gelu_forward(const Tensor& out, const Tensor& x);
// dx (assigned)
void gelu_backward(const Tensor& dx, const Tensor& dout, const Tensor& x);

}  // namespace strand
