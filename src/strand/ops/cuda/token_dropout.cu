// ESM-2 token dropout: the per-token factors (one block per sequence), and the row scaling that applies them
// (a pointwise launch, 16-byte vectors where rows and pointers allow).
#include "strand/ops/cuda/token_dropout.h"

#include "strand/ops/cuda/elementwise_launch.cuh"
#include "strand/ops/cuda/vector_access.cuh"

#include <cuda_bf16.h>

#include <cstdint>

namespace strand::cuda {
namespace {

constexpr int kScaleThreads = 256;

// Block s counts the mask and pad tokens of sequence s kScaleThreads at a time (__syncthreads_count: exact,
// and the same in every thread), then writes the factors. The scale is worked out in double, as on the CPU,
// and rounded once to F32.
__global__ void __launch_bounds__(kScaleThreads)
    token_dropout_scales_kernel(float* scales, const int32_t* tokens, const int32_t* cu_seqlens,
                                int32_t mask_id, int32_t pad_id, double keep_ratio) {
  const int64_t start = cu_seqlens[blockIdx.x], end = cu_seqlens[blockIdx.x + 1];
  int n_mask = 0, n_pad = 0;
  for (int64_t first = start; first < end; first += kScaleThreads) {
    const int64_t t = first + threadIdx.x;
    const bool inside = t < end;
    const int32_t token = inside ? tokens[t] : 0;
    n_mask += __syncthreads_count(inside && token == mask_id);
    n_pad += __syncthreads_count(inside && token == pad_id);
  }
  const int64_t n_tokens = end - start - n_pad;
  // Some token takes the scale exactly when n_mask < n_tokens; otherwise every factor is 0 and the ratio (a
  // division by zero) is never formed.
  const float scale = n_mask < n_tokens
                          ? static_cast<float>(keep_ratio / (1.0 - static_cast<double>(n_mask) /
                                                                       static_cast<double>(n_tokens)))
                          : 0.0f;
  for (int64_t t = start + threadIdx.x; t < end; t += kScaleThreads) {
    const int32_t token = tokens[t];
    scales[t] = token == mask_id || token == pad_id ? 0.0f : scale;
  }
}

template <typename T>
struct ScaleRows {
  T* y;
  const T* x;
  const float* scales;
  int64_t cols;
  // The V elements share a row: the launch vectorises only when V divides cols.
  template <int V>
  __device__ void apply(int64_t i) const {
    const float s = scales[i / cols];
    float v[V];
    load<V>(x + i, v);
#pragma unroll
    for (int k = 0; k < V; ++k) v[k] *= s;
    store<V>(y + i, v);
  }
};

}  // namespace

void token_dropout_scales(float* scales, const int32_t* tokens, const int32_t* cu_seqlens, int64_t num_seqs,
                          int32_t mask_id, int32_t pad_id, double mask_ratio_train, cudaStream_t stream) {
  if (num_seqs == 0) return;
  token_dropout_scales_kernel<<<static_cast<unsigned>(num_seqs), kScaleThreads, 0, stream>>>(
      scales, tokens, cu_seqlens, mask_id, pad_id, 1.0 - mask_ratio_train);
  check_launch("token_dropout_scales");
}

void scale_rows(DType act, void* y, const void* x, const float* scales, int64_t rows, int64_t cols,
                cudaStream_t stream) {
  dispatch_act(act, "scale_rows", [&](auto tag) {
    using T = decltype(tag);
    constexpr int V = kVecWidth<T>;
    const ScaleRows<T> op{static_cast<T*>(y), static_cast<const T*>(x), scales, cols};
    launch_elementwise<V>(op, rows * cols, cols % V == 0 && aligned16(y) && aligned16(x), stream,
                          "scale_rows");
  });
}

}  // namespace strand::cuda
