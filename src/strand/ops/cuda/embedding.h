// Token embedding on the GPU; see ops/embedding.h. Tokens are validated on the host before upload.
#pragma once

#include "strand/ops/cuda/launch.h"

namespace strand::cuda {

// y [tokens, cols] = table [vocab, cols] rows at tokens (I32, each in [0, vocab)).
void embedding_forward(DType act, void* y, const int32_t* tokens, const void* table, int64_t n_tokens,
                       int64_t cols, cudaStream_t stream);
// dtable [vocab, cols] F32 += scatter-add of dy [tokens, cols] (dtype act) at tokens, deterministic (the
// same bits on every run: no floating-point atomics), skipping padding_idx (if >= 0).
void embedding_backward(DType act, float* dtable, const void* dy, const int32_t* tokens, int64_t n_tokens,
                        int64_t cols, int64_t vocab, int64_t padding_idx, cudaStream_t stream);

}  // namespace strand::cuda
