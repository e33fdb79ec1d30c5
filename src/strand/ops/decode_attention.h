// Attention of a sequence's newest tokens against its cached keys and values: the incremental-decoding
// counterpart of attention_forward (attention.h), for ONE sequence, forward only.
//
// The t queries are the tokens at positions past .. past+t-1 of the sequence, where past = L - t and k, v
// hold the (already rotated) keys and values of all L = past + t tokens. For query i and head h (KV head
// g = h / (H / Hkv)):
//   S_j = scale * q_ih . k_jg  for j in [0, past + i] (causal) or [0, L) (not causal),
//   P = softmax(S);  out_ih = sum_j P_j v_jg;  lse_ih = log sum_j exp(S_j).
// Row for row this is the computation attention_forward does for the last t tokens of the same sequence, in
// the same order, so the two agree to the last bit on the same inputs.
#pragma once

#include "strand/core/tensor.h"
#include "strand/ops/attention.h"

namespace strand {

// out, q [t, H, D]; k, v [L, Hkv, D] with L >= t >= 1 and H % Hkv == 0 (k and v may be leading rows of a
// larger cache buffer: a narrow() along dim 0 of a contiguous tensor). lse [t, H] is optional (undefined
// skips it). All float tensors share a dtype (F32 or F64).
void decode_attention_forward(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k,
                              const Tensor& v, const AttentionOptions& options);

}  // namespace strand
