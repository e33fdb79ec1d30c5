// Attention of the newest tokens of `batch` sequences against their cached keys and values: the
// incremental-decoding counterpart of attention_forward (attention.h), forward only.
//
// Every sequence holds L = past + t tokens, of which the t newest are queried: query row b * t + i is token
// past + i of sequence b, and k[b], v[b] hold the (already rotated) keys and values of that sequence's L
// tokens. For query row r = b * t + i and head h (KV head g = h / (H / Hkv)):
//   S_j = scale * q_rh . k_bjg  for j in [0, past + i] (causal) or [0, L) (not causal),
//   P = softmax(S);  out_rh = sum_j P_j v_bjg;  lse_rh = log sum_j exp(S_j).
// Row for row this is the computation attention_forward does for the last t tokens of each sequence; on the
// CPU in the same order, so the two agree to the last bit on the same inputs. The CUDA kernel computes in F32
// over F32 or BF16 storage.
#pragma once

#include "strand/core/tensor.h"
#include "strand/ops/attention.h"

namespace strand {

// q [B * t, H, D] (row-strided: a slice of a fused projection's output may be read in place); out [B * t, H,
// D] contiguous; k, v [B, L, Hkv, D] with L >= t >= 1, B >= 1 and H % Hkv == 0, each sequence's rows
// contiguous and the sequences any distance apart (the leading L rows of a [B, max_len, Hkv, D] cache: a
// narrow() along dim 1). lse [B * t, H] is optional (undefined skips it). Float dtypes as dispatch.h states
// (CPU: all F32 or all F64; CUDA: q, k, v, out F32 or BF16, lse F32). options.max_seqlen is not used.
void decode_attention_forward(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k,
                              const Tensor& v, const AttentionOptions& options);

}  // namespace strand
