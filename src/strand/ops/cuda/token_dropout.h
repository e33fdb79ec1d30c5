// ESM-2 token dropout on the GPU; see ops/token_dropout.h for the arithmetic.
#pragma once

#include "strand/ops/cuda/launch.h"

namespace strand::cuda {

// scales [tokens] F32 = each token's factor, for the num_seqs sequences of cu_seqlens [num_seqs + 1] over
// tokens [cu_seqlens[num_seqs]] (I32, cu_seqlens checked on the host before upload).
void token_dropout_scales(float* scales, const int32_t* tokens, const int32_t* cu_seqlens, int64_t num_seqs,
                          int32_t mask_id, int32_t pad_id, double mask_ratio_train, cudaStream_t stream);

// y [rows, cols] = x [rows, cols] with row t times scales[t] (F32); x and y of dtype act, y may alias x.
void scale_rows(DType act, void* y, const void* x, const float* scales, int64_t rows, int64_t cols,
                cudaStream_t stream);

}  // namespace strand::cuda
