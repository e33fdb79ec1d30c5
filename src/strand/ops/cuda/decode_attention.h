// Attention of the newest tokens of a batch of sequences against their cached keys and values, on the GPU;
// see ops/decode_attention.h for the arithmetic.
//
// q [batch * queries, H, D] is row-strided (query row r at q + r * ld_q); out [batch * queries, H, D] is
// contiguous; k and v [batch, keys, Hkv, D] hold each sequence's rows contiguously, sequence b at
// k + b * ld_k (ld_k >= keys * Hkv * D: the leading rows of a larger cache). Storage is `act` (F32 or BF16),
// arithmetic F32; lse [batch * queries, H] F32 is contiguous, or null to skip it. The causal mask lets query
// i of a sequence see keys [0, keys - queries + i].
#pragma once

#include "strand/ops/cuda/launch.h"

namespace strand::cuda {

struct DecodeAttentionShape {
  int64_t batch = 0;
  int64_t queries = 0;  // new tokens per sequence (>= 1)
  int64_t keys = 0;     // cached tokens per sequence, the new ones included (>= queries)
  int64_t heads = 0;
  int64_t kv_heads = 0;
  int64_t head_dim = 0;  // at most 256
  bool causal = true;
  float scale = 0;  // softmax scale (the entry point resolves 0 to 1/sqrt(D))
};

struct DecodeAttentionTensors {
  const void* q = nullptr;
  int64_t ld_q = 0;  // elements between query rows
  const void* k = nullptr;
  const void* v = nullptr;
  int64_t ld_k = 0, ld_v = 0;  // elements between sequences
  void* out = nullptr;
  float* lse = nullptr;  // optional
};

// One thread block per (query row, head), exact two-pass softmax in F32 over the visible cached keys. Each
// output element is written by one thread and nothing is accumulated atomically, so results are
// deterministic.
void decode_attention_forward(DType act, const DecodeAttentionShape& shape, const DecodeAttentionTensors& t,
                              cudaStream_t stream);

}  // namespace strand::cuda
