#include "strand/ops/cuda/attention_cudnn_offsets.h"
#include "strand/ops/cuda/packed_sequences.cuh"

#include "strand/ops/cuda/launch.h"

namespace strand::cuda {
namespace {

constexpr int kThreads = 256;

unsigned blocks_for(int64_t n) {
  return static_cast<unsigned>((n + kThreads - 1) / kThreads);
}

// One thread per (array, position): the lengths are written by the threads of the first array.
__global__ void layout_kernel(const int32_t* cu_seqlens, int64_t num_seqs, int64_t batch,
                              RaggedStrides strides, int32_t* seq_lens, int64_t* offsets) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  const int64_t per_array = batch + 1;
  if (i >= per_array * strides.count) return;
  const int64_t array = i / per_array, pos = i % per_array;
  const int64_t start = cu_seqlens[pos < num_seqs ? pos : num_seqs];
  offsets[i] = start * strides.values[array];
  if (array == 0 && pos < batch) seq_lens[pos] = pos < num_seqs ? cu_seqlens[pos + 1] - cu_seqlens[pos] : 0;
}

__global__ void stats_to_lse_kernel(const float* stats, float* lse, const int32_t* cu_seqlens,
                                    int64_t num_seqs, int64_t tokens, int64_t heads, int64_t seqlen) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= tokens * heads) return;
  const int64_t token = i / heads, head = i % heads;
  const int64_t seq = sequence_of(cu_seqlens, num_seqs, token);
  lse[i] = stats[(seq * heads + head) * seqlen + (token - cu_seqlens[seq])];
}

__global__ void lse_to_stats_kernel(const float* lse, float* stats, const int32_t* cu_seqlens,
                                    int64_t num_seqs, int64_t batch, int64_t heads, int64_t seqlen) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= batch * heads * seqlen) return;
  const int64_t seq = i / (heads * seqlen), head = (i / seqlen) % heads, pos = i % seqlen;
  const bool valid = seq < num_seqs && pos < cu_seqlens[seq + 1] - cu_seqlens[seq];
  stats[i] = valid ? lse[(cu_seqlens[seq] + pos) * heads + head] : 0.0f;
}

}  // namespace

void cudnn_attention_layout(const int32_t* cu_seqlens, int64_t num_seqs, int64_t batch,
                            const RaggedStrides& strides, int32_t* seq_lens, int64_t* offsets,
                            cudaStream_t stream) {
  const int64_t n = (batch + 1) * strides.count;
  if (n == 0) return;
  layout_kernel<<<blocks_for(n), kThreads, 0, stream>>>(cu_seqlens, num_seqs, batch, strides, seq_lens,
                                                        offsets);
  check_launch("cudnn_attention_layout");
}

void cudnn_attention_stats_to_lse(const float* stats, float* lse, const int32_t* cu_seqlens, int64_t num_seqs,
                                  int64_t tokens, int64_t heads, int64_t seqlen, cudaStream_t stream) {
  const int64_t n = tokens * heads;
  if (n == 0) return;
  stats_to_lse_kernel<<<blocks_for(n), kThreads, 0, stream>>>(stats, lse, cu_seqlens, num_seqs, tokens, heads,
                                                              seqlen);
  check_launch("cudnn_attention_stats_to_lse");
}

void cudnn_attention_lse_to_stats(const float* lse, float* stats, const int32_t* cu_seqlens, int64_t num_seqs,
                                  int64_t batch, int64_t heads, int64_t seqlen, cudaStream_t stream) {
  const int64_t n = batch * heads * seqlen;
  if (n == 0) return;
  lse_to_stats_kernel<<<blocks_for(n), kThreads, 0, stream>>>(lse, stats, cu_seqlens, num_seqs, batch, heads,
                                                              seqlen);
  check_launch("cudnn_attention_lse_to_stats");
}

}  // namespace strand::cuda
