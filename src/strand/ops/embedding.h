// Token embedding lookup.
#pragma once

#include "strand/core/tensor.h"
#include "strand/ops/grad_write.h"

namespace strand {

// y [T, C] = table [V, C] rows at tokens [T] (I32). A token outside [0, V) is an error naming its position.
void embedding_forward(const Tensor& y, const Tensor& tokens, const Tensor& table);

// dtable [V, C] += scatter-add of dy [T, C] at tokens (deterministic: rows summed in token order).
// Rows of padding_idx (if >= 0) get no gradient, as nn.Embedding(padding_idx=...) in PyTorch.
// With dtable_write assign, dtable = the scatter: the rows of tokens not present become zero (the table is
// zeroed, then scattered into, since the scatter reaches only the rows it sees).
void embedding_backward(const Tensor& dtable, const Tensor& dy, const Tensor& tokens, int64_t padding_idx,
                        GradWrite dtable_write);

}  // namespace strand
