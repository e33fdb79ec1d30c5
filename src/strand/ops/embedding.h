// Token embedding lookup.
#pragma once

#include "strand/core/tensor.h"

namespace strand {

// y [T, C] = table [V, C] rows at tokens [T] (I32). A token outside [0, V) is an error naming its position.
void embedding_forward(const Tensor& y, const Tensor& tokens, const Tensor& table);

// dtable [V, C] += scatter-add of dy [T, C] at tokens (deterministic: rows summed in token order).
// Rows of padding_idx (if >= 0) get no gradient, as nn.Embedding(padding_idx=...) in PyTorch.
// A dtable pending zero (ops/deferred_zeros.h) is zeroed first.
void embedding_backward(const Tensor& dtable, const Tensor& dy, const Tensor& tokens,
                        int64_t padding_idx = -1);

}  // namespace strand
