// Bias gradients: db[c] += sum over rows of dy[r, c], in two stages. A thread owns V adjacent columns (one
// 16-byte access per row when widths and pointers allow, else a single column) and sums one chunk of rows;
// a second pass adds each column's chunk sums in chunk order. One thread per column over every row would
// keep 5 of the GPU's 132 SMs busy for a bias of 1280 columns; single-element loads would leave most of each
// memory transaction unused. The chunks and their order are fixed by the shape, so the result is
// deterministic.
#include "strand/ops/cuda/gemm.h"

#include "strand/core/error.h"
#include "strand/cuda/runtime.h"
#include "strand/ops/cuda/vector_access.cuh"

#include <cuda_bf16.h>

#include <algorithm>
#include <string>

namespace strand::cuda {
namespace {

constexpr int kThreads = 64;
constexpr int64_t kRowsPerChunk = 64;  // at least; more when the rows would need over 65535 chunks
constexpr int kUnroll = 8;             // rows whose loads a thread has in flight at once

// Stage 1: block (x, y) sums rows [y * chunk_rows, ...) of column groups [x * kThreads, ...), V columns per
// thread, into partial[y][column].
template <typename T, int V>
__global__ void __launch_bounds__(kThreads)
    column_partial_sums_kernel(float* partial, const T* dy, int64_t rows, int64_t cols, int64_t chunk_rows) {
  const int64_t c = (blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x) * V;
  if (c >= cols) return;
  const int64_t first = blockIdx.y * chunk_rows;
  const int64_t last = first + chunk_rows < rows ? first + chunk_rows : rows;
  float s[V] = {};
  int64_t r = first;
  for (; r + kUnroll <= last; r += kUnroll) {
    float v[kUnroll][V];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) load<V>(dy + (r + u) * cols + c, v[u]);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
#pragma unroll
      for (int k = 0; k < V; ++k) s[k] += v[u][k];
    }
  }
  for (; r < last; ++r) {
    float v[V];
    load<V>(dy + r * cols + c, v);
#pragma unroll
    for (int k = 0; k < V; ++k) s[k] += v[k];
  }
  float* out = partial + blockIdx.y * cols + c;
#pragma unroll
  for (int k = 0; k < V; ++k) out[k] = s[k];
}

// Stage 2: each column's partial sums in chunk order, added to db.
__global__ void column_sum_partials_kernel(float* db, const float* partial, int64_t chunks, int64_t cols) {
  const int64_t c = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (c >= cols) return;
  float s = 0;
  for (int64_t k = 0; k < chunks; ++k) s += partial[k * cols + c];
  db[c] += s;
}

template <typename T>
void launch(float* db, const T* dy, int64_t rows, int64_t cols, cudaStream_t stream) {
  const int64_t chunk_rows = std::max(kRowsPerChunk, (rows + 65534) / 65535);  // grid.y is at most 65535
  const int64_t chunks = (rows + chunk_rows - 1) / chunk_rows;
  auto* partial = static_cast<float*>(scratch(static_cast<size_t>(chunks * cols) * sizeof(float)));
  constexpr int V = kVecWidth<T>;
  const bool vectorized = cols % V == 0 && aligned16(dy);
  const int64_t groups = vectorized ? cols / V : cols;
  const dim3 grid(static_cast<unsigned>((groups + kThreads - 1) / kThreads), static_cast<unsigned>(chunks));
  if (vectorized) {
    column_partial_sums_kernel<T, V><<<grid, kThreads, 0, stream>>>(partial, dy, rows, cols, chunk_rows);
  } else {
    column_partial_sums_kernel<T, 1><<<grid, kThreads, 0, stream>>>(partial, dy, rows, cols, chunk_rows);
  }
  constexpr int kFinalThreads = 256;
  column_sum_partials_kernel<<<static_cast<unsigned>((cols + kFinalThreads - 1) / kFinalThreads),
                               kFinalThreads, 0, stream>>>(db, partial, chunks, cols);
}

}  // namespace

void column_sum_accumulate(DType act, float* db, const void* dy, int64_t rows, int64_t cols,
                           cudaStream_t stream) {
  if (cols == 0 || rows == 0) return;
  dispatch_act(act, "column_sum_accumulate",
               [&](auto tag) { launch(db, static_cast<const decltype(tag)*>(dy), rows, cols, stream); });
  check_launch("column_sum_accumulate");
}

}  // namespace strand::cuda
