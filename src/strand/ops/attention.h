// Scaled dot-product attention over a packed batch, with grouped-query heads.
//
// For every sequence s of cu_seqlens and query head h (KV head h / (H / Hkv)):
//   S = scale * q_h k_g^T  over the tokens of s only (no attention across sequence boundaries),
//   causal: key j > query i masked out;  P = softmax(S);  out_h = P v_g.
// lse [T, H] = log-sum-exp of each row of S (masked entries excluded), saved so the backward recomputes P
// without storing it (the FlashAttention recipe).
#pragma once

#include "strand/core/tensor.h"

namespace strand {

struct AttentionOptions {
  bool causal = true;
  double scale = 0.0;      // softmax scale; 0 means 1/sqrt(D)
  int64_t max_seqlen = 0;  // longest sequence of cu_seqlens; required for CUDA tensors (whose cu_seqlens the
                           // host cannot read without a synchronisation), ignored on the CPU
};

// out, q [T, H, D]; k, v [T, Hkv, D] with H % Hkv == 0; cu_seqlens [n+1] I32. q, k and v may be row-strided
// (their rows spaced apart, as slices of one fused q/k/v projection output); out and lse are contiguous.
void attention_forward(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k,
                       const Tensor& v, const Tensor& cu_seqlens, const AttentionOptions& options);

// dq [T, H, D], dk, dv [T, Hkv, D], all assigned, and row-strided like q, k, v may be (so they can fill one
// fused gradient buffer); dout contiguous.
void attention_backward(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& dout,
                        const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                        const Tensor& lse, const Tensor& cu_seqlens, const AttentionOptions& options);

}  // namespace strand
