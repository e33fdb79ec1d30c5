// Token dropout of ESM-2's embeddings (transformers' EsmEmbeddings with token_dropout=True), applied in
// training and inference alike: mask tokens' embeddings are zeroed, and every other embedding is scaled so
// that the sequence's embeddings add up as they did in pretraining, where a fraction mask_ratio_train of the
// tokens was masked (0.15 * 0.8: the 80% of the selected 15% replaced by the mask token).
//
// Over a packed batch (packed.h), for each sequence s:
//   n_tokens(s) = tokens of s that are not pad_id,   n_mask(s) = tokens of s equal to mask_id,
//   scale(s)    = (1 - mask_ratio_train) / (1 - n_mask(s) / n_tokens(s)),
// and a token's factor is 0 for mask and pad tokens, scale(s) for every other token. transformers zeroes pad
// positions too (through the attention mask, after the embeddings). A sequence of pad and mask tokens only
// has factor 0 everywhere: nothing divides by zero.
#pragma once

#include "strand/core/tensor.h"

#include <cstdint>

namespace strand {

inline constexpr double kEsmMaskRatioTrain = 0.15 * 0.8;

// scales [T] (F32; F64 also on the CPU) = each token's factor; tokens [T] I32; cu_seqlens [n+1] I32.
// mask_id != pad_id; 0 <= mask_ratio_train < 1. One forward per batch: the factors depend on the tokens only,
// so nothing flows back through them, and the backward reuses them (scale_rows below).
void token_dropout_scales(const Tensor& scales, const Tensor& tokens, const Tensor& cu_seqlens,
                          int32_t mask_id, int32_t pad_id, double mask_ratio_train = kEsmMaskRatioTrain);

// y [T, C] = x [T, C] with row t multiplied by scales[t]; scales [T] of the statistics dtype (F32 on CUDA;
// x's dtype on the CPU). y may alias x (in place). Linear in x, with a diagonal Jacobian, so its backward is
// itself: dx (assigned) = scale_rows(dy, scales), in place in dy if wanted; scales get no gradient.
void scale_rows(const Tensor& y, const Tensor& x, const Tensor& scales);

}  // namespace strand
