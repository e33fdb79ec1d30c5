// Internal to the CUDA kernels: a grid-stride launch of a pointwise functor over n elements, 16-byte vectors
// at a time where the pointers allow.
#pragma once

#include "strand/ops/cuda/launch.h"

#include <algorithm>
#include <cstdint>

namespace strand::cuda {

inline constexpr int kElementwiseThreads = 256;
// Grid-stride loops cover any n; more blocks than this only add scheduling overhead.
inline constexpr int64_t kElementwiseMaxBlocks = 65536;

// Applies op to n elements: op.template apply<V>(i) handles elements [i, i + V). The first n / V * V go V at
// a time, the rest singly.
template <int V, typename Op>
__global__ void __launch_bounds__(kElementwiseThreads) elementwise_kernel(Op op, int64_t n) {
  const int64_t first = int64_t{blockIdx.x} * kElementwiseThreads + threadIdx.x;
  const int64_t stride = int64_t{gridDim.x} * kElementwiseThreads;
  const int64_t vectors = n / V;
  for (int64_t i = first; i < vectors; i += stride) op.template apply<V>(i * V);
  if (first < n - vectors * V) op.template apply<1>(vectors * V + first);
}

// Runs op over n elements, V at a time when vectorized.
template <int V, typename Op>
void launch_elementwise(const Op& op, int64_t n, bool vectorized, cudaStream_t stream, const char* what) {
  if (n == 0) return;
  const int64_t per_thread = vectorized ? V : 1;
  const int64_t blocks = std::clamp<int64_t>((n / per_thread + kElementwiseThreads - 1) / kElementwiseThreads,
                                             1, kElementwiseMaxBlocks);
  if (vectorized) {
    elementwise_kernel<V><<<static_cast<unsigned>(blocks), kElementwiseThreads, 0, stream>>>(op, n);
  } else {
    elementwise_kernel<1><<<static_cast<unsigned>(blocks), kElementwiseThreads, 0, stream>>>(op, n);
  }
  check_launch(what);
}

}  // namespace strand::cuda
