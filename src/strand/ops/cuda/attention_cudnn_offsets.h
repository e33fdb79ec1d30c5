// Small kernels that translate a packed (THD) batch into the tensors cuDNN's fused attention takes alongside
// q, k and v: per-sequence lengths, ragged offsets, and the softmax statistics in the padded
// [batch, heads, seqlen, 1] layout that fused attention reads and writes. Internal to attention_cudnn.cpp.
//
// `batch` may exceed `num_seqs` (plans are built for a rounded-up sequence count); the extra sequences are
// empty. All pointers are device pointers; every function enqueues on `stream` and does not synchronise.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace strand::cuda {

// Distinct row strides (elements between consecutive tokens) of the tensors that share a ragged layout.
inline constexpr int kMaxRaggedStrides = 8;
struct RaggedStrides {
  int64_t values[kMaxRaggedStrides] = {};
  int count = 0;
};

// seq_lens[i] = length of sequence i (0 for i >= num_seqs), for i < batch;
// offsets[k * (batch + 1) + i] = cu_seqlens[min(i, num_seqs)] * strides.values[k], for i <= batch: the
// element offset of sequence i's first token in a tensor whose tokens are strides.values[k] elements apart.
void cudnn_attention_layout(const int32_t* cu_seqlens, int64_t num_seqs, int64_t batch,
                            const RaggedStrides& strides, int32_t* seq_lens, int64_t* offsets,
                            cudaStream_t stream);

// lse[t, h] (row-major [tokens, heads]) = stats[s, h, t - cu_seqlens[s]] for the sequence s holding token t,
// stats being [batch, heads, seqlen] contiguous.
void cudnn_attention_stats_to_lse(const float* stats, float* lse, const int32_t* cu_seqlens, int64_t num_seqs,
                                  int64_t tokens, int64_t heads, int64_t seqlen, cudaStream_t stream);

// The inverse: stats[s, h, i] = lse[cu_seqlens[s] + i, h] for the positions i of sequence s, and 0 for the
// padding positions, which cuDNN masks out but still reads.
void cudnn_attention_lse_to_stats(const float* lse, float* stats, const int32_t* cu_seqlens, int64_t num_seqs,
                                  int64_t batch, int64_t heads, int64_t seqlen, cudaStream_t stream);

}  // namespace strand::cuda
