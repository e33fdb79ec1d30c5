// Token embedding: the forward pass copies table rows; the backward pass sums dy rows into dtable without
// atomics, so it gives the same bits on every run.
//
// Backward: one block per (vocabulary row, column chunk of one warp's width). Each warp of the block scans a
// contiguous slice of the tokens in order, and for every token equal to the block's row adds that token's dy
// chunk to registers; the warps' sums are then added in warp order and into dtable once. The order of every
// addition is fixed by the shapes alone. Bio vocabularies are small (tens to hundreds of rows), so rescanning
// the tokens per block costs little next to reading dy once; larger vocabularies stay correct, only slower.
#include "strand/ops/cuda/embedding.h"

#include "strand/core/error.h"
#include "strand/ops/cuda/vector_access.cuh"

#include <cuda_bf16.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <string>
#include <type_traits>

namespace strand::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarp = 32;
constexpr unsigned kFullMask = 0xffffffffu;
// Warps per backward block, each scanning its own slice of the tokens.
constexpr int kScanWarps = 32;
constexpr int kScanThreads = kScanWarps * kWarp;
// Runs of kWarp tokens each lane loads at once, and matching dy rows loaded before any is summed: both keep
// several loads in flight per warp.
constexpr int kScanSteps = 4;
constexpr int kRowsInFlight = 4;

// Block: x over a row's V-element vectors, y over tokens.
template <typename T, int V>
__global__ void __launch_bounds__(kThreads)
    embedding_forward_kernel(T* y, const int32_t* tokens, const T* table, int64_t n_tokens, int64_t cols) {
  const int64_t t = int64_t{blockIdx.x} * blockDim.y + threadIdx.y;
  const int64_t col = (int64_t{blockIdx.y} * blockDim.x + threadIdx.x) * V;
  if (t >= n_tokens || col >= cols) return;
  *reinterpret_cast<Vec<T, V>*>(y + t * cols + col) =
      *reinterpret_cast<const Vec<T, V>*>(table + int64_t{tokens[t]} * cols + col);
}

// Grid: x = vocabulary row, y = column chunk of kWarp * V columns (lane l owns columns [l V, l V + V)).
template <typename T, int V>
__global__ void __launch_bounds__(kScanThreads)
    embedding_backward_kernel(float* dtable, const T* dy, const int32_t* tokens, int64_t n_tokens,
                              int64_t cols, int64_t padding_idx) {
  const int64_t row = blockIdx.x;
  if (row == padding_idx) return;
  const int lane = static_cast<int>(threadIdx.x) % kWarp;
  const int warp = static_cast<int>(threadIdx.x) / kWarp;
  const int64_t chunk_begin = int64_t{blockIdx.y} * kWarp * V;
  const int64_t col = chunk_begin + lane * V;
  const bool owns_columns = col < cols;

  // Slices are whole scan steps: each step reads kScanSteps runs of kWarp consecutive tokens.
  constexpr int kStep = kWarp * kScanSteps;
  const int64_t slice = ((n_tokens + kScanWarps - 1) / kScanWarps + kStep - 1) / kStep * kStep;
  const int64_t begin = warp * slice;
  const int64_t end = std::min(n_tokens, begin + slice);
  float sum[V] = {};
  bool matched = false;
  for (int64_t step = begin; step < end; step += kStep) {
    int32_t token[kScanSteps];
#pragma unroll
    for (int s = 0; s < kScanSteps; ++s) {
      const int64_t t = step + s * kWarp + lane;
      token[s] = t < end ? tokens[t] : -1;  // -1 matches no row
    }
#pragma unroll
    for (int s = 0; s < kScanSteps; ++s) {
      const int64_t base = step + s * kWarp;
      unsigned match = __ballot_sync(kFullMask, token[s] == row);
      matched |= match != 0;
      while (match != 0) {
        float rows[kRowsInFlight][V];
        int taken = 0;
#pragma unroll
        for (int r = 0; r < kRowsInFlight; ++r) {
          if (match != 0) {
            const int i = __ffs(match) - 1;
            match &= match - 1;
            if (owns_columns) load<V>(dy + (base + i) * cols + col, rows[r]);
            taken = r + 1;
          }
        }
        if (!owns_columns) continue;
#pragma unroll
        for (int r = 0; r < kRowsInFlight; ++r) {
          if (r < taken) {
#pragma unroll
            for (int k = 0; k < V; ++k) sum[k] += rows[r][k];
          }
        }
      }
    }
  }

  // A row no token maps to keeps its gradient untouched (no read-modify-write of zeros).
  if (!__syncthreads_or(matched)) return;
  __shared__ float warp_sums[kScanWarps][kWarp * V];
#pragma unroll
  for (int k = 0; k < V; ++k) warp_sums[warp][lane * V + k] = sum[k];
  __syncthreads();
  for (int j = static_cast<int>(threadIdx.x); j < kWarp * V && chunk_begin + j < cols; j += blockDim.x) {
    float total = 0;
    for (int w = 0; w < kScanWarps; ++w) total += warp_sums[w][j];
    dtable[row * cols + chunk_begin + j] += total;
  }
}

template <typename T, int V>
void launch_forward(T* y, const int32_t* tokens, const T* table, int64_t n_tokens, int64_t cols,
                    cudaStream_t stream) {
  const int64_t row_vectors = cols / V;
  const auto width = static_cast<int>(std::min<uint64_t>(kThreads, std::bit_ceil(uint64_t(row_vectors))));
  const int height = kThreads / width;
  const dim3 grid(static_cast<unsigned>((n_tokens + height - 1) / height),
                  static_cast<unsigned>((row_vectors + width - 1) / width));
  embedding_forward_kernel<T, V><<<grid, dim3(width, height), 0, stream>>>(y, tokens, table, n_tokens, cols);
}

template <typename T, int V>
void launch_backward(float* dtable, const T* dy, const int32_t* tokens, int64_t n_tokens, int64_t cols,
                     int64_t vocab, int64_t padding_idx, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(vocab), static_cast<unsigned>((cols + kWarp * V - 1) / (kWarp * V)));
  embedding_backward_kernel<T, V>
      <<<grid, kScanThreads, 0, stream>>>(dtable, dy, tokens, n_tokens, cols, padding_idx);
}

}  // namespace

void embedding_forward(DType act, void* y, const int32_t* tokens, const void* table, int64_t n_tokens,
                       int64_t cols, cudaStream_t stream) {
  if (n_tokens == 0 || cols == 0) return;
  dispatch_act(act, "embedding_forward", [&](auto tag) {
    using T = decltype(tag);
    constexpr int V = kVecWidth<T>;
    auto* out = static_cast<T*>(y);
    const auto* in = static_cast<const T*>(table);
    if (cols % V == 0 && aligned16(out) && aligned16(in)) {
      launch_forward<T, V>(out, tokens, in, n_tokens, cols, stream);
    } else {
      launch_forward<T, 1>(out, tokens, in, n_tokens, cols, stream);
    }
    check_launch("embedding_forward");
  });
}

void embedding_backward(DType act, float* dtable, const void* dy, const int32_t* tokens, int64_t n_tokens,
                        int64_t cols, int64_t vocab, int64_t padding_idx, cudaStream_t stream) {
  if (n_tokens == 0 || cols == 0 || vocab == 0) return;
  dispatch_act(act, "embedding_backward", [&](auto tag) {
    using T = decltype(tag);
    constexpr int V = kVecWidth<T>;
    const auto* g = static_cast<const T*>(dy);
    if (cols % V == 0 && aligned16(g)) {
      launch_backward<T, V>(dtable, g, tokens, n_tokens, cols, vocab, padding_idx, stream);
    } else {
      launch_backward<T, 1>(dtable, g, tokens, n_tokens, cols, vocab, padding_idx, stream);
    }
    check_launch("embedding_backward");
  });
}

}  // namespace strand::cuda
