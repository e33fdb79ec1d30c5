// Internal to the CUDA kernels: the second stage of the deterministic column reductions (bias gradients, the
// norms' weight gradients), which adds rows of partial sums in a fixed order.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace strand::cuda::partial_sums {

inline constexpr int kColumns = 32;
inline constexpr int kSlices = 32;

// One or two reductions out[c] (+)= the sum over p of partials[p, c] (LayerNorm's dw and db share a launch),
// each adding to out or, for an assigned gradient (GradWrite::assign), overwriting it.
struct Reductions {
  float* out[2];
  const float* partials[2];
  bool accumulate[2];
};

// Reduction blockIdx.y, in order of p: thread (x, y) sums rows y, y + kSlices, ..., then thread (x, 0) adds
// the slices in order of y.
inline __global__ void __launch_bounds__(kColumns* kSlices)
    add_kernel(Reductions reductions, int64_t rows, int64_t cols) {
  const float* partials = reductions.partials[blockIdx.y];
  const int64_t c = int64_t{blockIdx.x} * kColumns + threadIdx.x;
  float sum = 0;
  if (c < cols) {
#pragma unroll 8
    for (int64_t p = threadIdx.y; p < rows; p += kSlices) sum += partials[p * cols + c];
  }
  __shared__ float slice_sums[kSlices][kColumns];
  slice_sums[threadIdx.y][threadIdx.x] = sum;
  __syncthreads();
  if (threadIdx.y != 0 || c >= cols) return;
  float total = 0;
  for (int s = 0; s < kSlices; ++s) total += slice_sums[s][threadIdx.x];
  float& out = reductions.out[blockIdx.y][c];
  out = reductions.accumulate[blockIdx.y] ? out + total : total;
}

// Enqueues the first `count` (1 or 2) reductions of `reductions`, each over [rows, cols] partials.
inline void add(const Reductions& reductions, int count, int64_t rows, int64_t cols, cudaStream_t stream) {
  const dim3 blocks(static_cast<unsigned>((cols + kColumns - 1) / kColumns), static_cast<unsigned>(count));
  add_kernel<<<blocks, dim3(kColumns, kSlices), 0, stream>>>(reductions, rows, cols);
}

}  // namespace strand::cuda::partial_sums
