// Bias gradients: db[c] (+)= sum over rows of dy[r, c], in two stages.
//
// Stage 1: a block of kSlices x kColumnThreads threads takes a chunk of rows and kColumnThreads groups of V
// adjacent columns (one 16-byte access per row when widths and pointers allow, else one column). Thread
// (x, y) sums rows y, y + kSlices, ... of the chunk for its V columns, so each warp reads whole rows, and the
// block then adds its kSlices sums per column in order into one partial row per chunk. Stage 2
// (partial_sums.cuh) adds each column's chunk partials in a fixed order. Each thread has a short run of rows
// and many threads are in flight, which keeps the memory system busy (on an H100 a [16384, 5120] BF16 sum
// takes 64 us; a thread per V columns over 64-row chunks took 90 us, and a thread per column over every row
// would keep 5 of 132 SMs busy for 1280 columns). The chunks and every order of addition are fixed by the
// shape, so the result is deterministic.
#include "strand/ops/cuda/gemm.h"

#include "strand/core/error.h"
#include "strand/cuda/runtime.h"
#include "strand/ops/cuda/partial_sums.cuh"
#include "strand/ops/cuda/vector_access.cuh"

#include <cuda_bf16.h>

#include <algorithm>
#include <string>

namespace strand::cuda {
namespace {

constexpr int kColumnThreads = 32;
constexpr int kSlices = 8;
constexpr int kRowsPerThread = 16;  // of a chunk, at least; more when there would be over 65535 chunks
constexpr int kUnroll = 4;          // rows whose loads a thread has in flight at once

// Stage 1: block (x, y) sums rows [y * chunk_rows, ...) of column groups [x * kColumnThreads, ...) into
// partial[y][column].
template <typename T, int V>
__global__ void __launch_bounds__(kColumnThreads* kSlices)
    column_partial_sums_kernel(float* partial, const T* dy, int64_t rows, int64_t cols, int64_t chunk_rows) {
  const int64_t c = (blockIdx.x * static_cast<int64_t>(kColumnThreads) + threadIdx.x) * V;
  const int64_t first = blockIdx.y * chunk_rows;
  const int64_t last = first + chunk_rows < rows ? first + chunk_rows : rows;
  float s[V] = {};
  if (c < cols) {
    int64_t r = first + threadIdx.y;
    for (; r + (kUnroll - 1) * kSlices < last; r += kUnroll * kSlices) {
      float v[kUnroll][V];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) load<V>(dy + (r + u * kSlices) * cols + c, v[u]);
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
#pragma unroll
        for (int k = 0; k < V; ++k) s[k] += v[u][k];
      }
    }
    for (; r < last; r += kSlices) {
      float v[V];
      load<V>(dy + r * cols + c, v);
#pragma unroll
      for (int k = 0; k < V; ++k) s[k] += v[k];
    }
  }
  __shared__ float slice_sums[kSlices][kColumnThreads * V];
#pragma unroll
  for (int k = 0; k < V; ++k) slice_sums[threadIdx.y][threadIdx.x * V + k] = s[k];
  __syncthreads();
  for (int j = threadIdx.y * kColumnThreads + threadIdx.x; j < kColumnThreads * V;
       j += kColumnThreads * kSlices) {
    const int64_t column = blockIdx.x * static_cast<int64_t>(kColumnThreads) * V + j;
    if (column >= cols) continue;
    float total = 0;
#pragma unroll
    for (int y = 0; y < kSlices; ++y) total += slice_sums[y][j];
    partial[blockIdx.y * cols + column] = total;
  }
}

template <typename T>
void launch(float* db, const T* dy, int64_t rows, int64_t cols, bool accumulate, cudaStream_t stream) {
  const int64_t chunk_rows =
      std::max<int64_t>(int64_t{kRowsPerThread} * kSlices, (rows + 65534) / 65535);  // grid.y <= 65535
  const int64_t chunks = (rows + chunk_rows - 1) / chunk_rows;
  auto* partial = static_cast<float*>(scratch(static_cast<size_t>(chunks * cols) * sizeof(float)));
  constexpr int V = kVecWidth<T>;
  const bool vectorized = cols % V == 0 && aligned16(dy);
  const int64_t groups = vectorized ? cols / V : cols;
  const dim3 grid(static_cast<unsigned>((groups + kColumnThreads - 1) / kColumnThreads),
                  static_cast<unsigned>(chunks));
  const dim3 block(kColumnThreads, kSlices);
  if (vectorized) {
    column_partial_sums_kernel<T, V><<<grid, block, 0, stream>>>(partial, dy, rows, cols, chunk_rows);
  } else {
    column_partial_sums_kernel<T, 1><<<grid, block, 0, stream>>>(partial, dy, rows, cols, chunk_rows);
  }
  partial_sums::add({{db, nullptr}, {partial, nullptr}, {accumulate, false}}, 1, chunks, cols, stream);
}

}  // namespace

void column_sum(DType act, float* db, const void* dy, int64_t rows, int64_t cols, bool accumulate,
                cudaStream_t stream) {
  if (cols == 0) return;
  if (rows == 0) {
    if (!accumulate)
      check_cuda(cudaMemsetAsync(db, 0, static_cast<size_t>(cols) * sizeof(float), stream), "column_sum");
    return;
  }
  dispatch_act(act, "column_sum", [&](auto tag) {
    launch(db, static_cast<const decltype(tag)*>(dy), rows, cols, accumulate, stream);
  });
  check_launch("column_sum");
}

}  // namespace strand::cuda
