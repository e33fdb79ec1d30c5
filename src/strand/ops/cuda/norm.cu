// RMSNorm and LayerNorm forward and backward: RMSNorm with the pre-norm residual add fused in, both with the
// residual gradient summed into dx.
//
// A row is handled by a block of blockDim.x threads (a multiple of a warp; a single warp handles a row of at
// most 32 vectors, and a block then holds several such rows along y). When widths and pointers allow 16-byte
// accesses, each thread keeps its kVecs vectors of the row in registers between the reduction and the output;
// otherwise a thread strides over the row's elements and reads them again.
//
// dw (and LayerNorm's db) are reduced without atomics: the backward pass runs P workers (a row block each),
// worker p summing rows p, p + P, ... into its own row of partial sums in the workspace; a second kernel adds
// the P partial rows in order into dw (and db). P is as many workers as the GPU holds at once (one wave: a
// second, partial wave would leave SMs idle through its rows), capped so the partials stay small; it depends
// on the shape and the GPU only, and so does the order of every addition. A backward thread (and a LayerNorm
// forward one) takes two vectors of a row, so that more rows are in flight per SM than with one (on an H100
// a [16384, 1280] BF16 LayerNorm backward went from 114 to 85 us with both changes).
#include "strand/ops/cuda/norm.h"

#include "strand/core/error.h"
#include "strand/ops/cuda/partial_sums.cuh"
#include "strand/ops/cuda/vector_access.cuh"

#include <cuda_bf16.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>

namespace strand::cuda {
namespace {

constexpr int kWarp = 32;
constexpr unsigned kFullMask = 0xffffffffu;
constexpr int kMaxRowThreads = 512;
// Row elements a thread keeps in registers, so rows up to 512 * 16 = 8192 wide take the register path.
constexpr int kMaxElementsPerThread = 16;
// Rows per block when one warp covers a row.
constexpr int kWarpRowsPerBlock = 4;
// Backward workers, each owning one row of dw partial sums: at most as many as keep the partials at about
// 2^20 elements (4 MiB), so the partials stay small next to dy and x.
constexpr int64_t kPartialElements = int64_t{1} << 20;

template <typename T>
__device__ __forceinline__ float round_to(float v) {
  return to_f32(from_f32<T>(v));
}

// Each of v[0..N) summed over the blockDim.x threads of a row, in a fixed order, the same values in every one
// of them; N sums share the synchronisations. Blocks of more than a warp hold one row (blockDim.y == 1), so
// their __syncthreads is uniform.
template <int N>
__device__ void row_sums(float (&v)[N]) {
  // The butterfly gives every lane the same bits: each step adds the same two values, in either order.
  for (int offset = kWarp / 2; offset > 0; offset /= 2) {
#pragma unroll
    for (int k = 0; k < N; ++k) v[k] += __shfl_xor_sync(kFullMask, v[k], offset);
  }
  if (blockDim.x == kWarp) return;
  __shared__ float warp_sums[N][kMaxRowThreads / kWarp];
  if (threadIdx.x % kWarp == 0) {
#pragma unroll
    for (int k = 0; k < N; ++k) warp_sums[k][threadIdx.x / kWarp] = v[k];
  }
  __syncthreads();
#pragma unroll
  for (int k = 0; k < N; ++k) {
    float total = 0;
    for (int i = 0; i < static_cast<int>(blockDim.x) / kWarp; ++i) total += warp_sums[k][i];
    v[k] = total;
  }
  __syncthreads();  // warp_sums is reused by the next row
}

__device__ float row_sum(float v) {
  float sums[1] = {v};
  row_sums(sums);
  return sums[0];
}

// The first of the V elements that vector i of a row's thread holds: thread x owns vectors x, x + blockDim.x,
// ... of the row.
template <int V>
__device__ __forceinline__ int vec_column(int i) {
  return (i * static_cast<int>(blockDim.x) + static_cast<int>(threadIdx.x)) * V;
}

// Thread x of a row owns kVecs vectors of V elements (vec_column).
template <typename T, int kVecs>
__global__ void __launch_bounds__(kMaxRowThreads)
    rmsnorm_forward_vec_kernel(T* y, float* rstd, T* sum_out, const T* x, const T* residual, const T* w,
                               int64_t rows, int cols, float eps) {
  constexpr int V = kVecWidth<T>;
  const int64_t row = int64_t{blockIdx.x} * blockDim.y + threadIdx.y;
  if (row >= rows) return;  // whole warps, which reduce among themselves only
  const int64_t base = row * cols;
  float s[kVecs][V];
  float squares = 0;
#pragma unroll
  for (int i = 0; i < kVecs; ++i) {
    const int c = vec_column<V>(i);
    if (c >= cols) continue;
    load<V>(x + base + c, s[i]);
    if (residual) {
      // The sum is rounded to T before it is normalised, so the backward pass (which sees sum_out) agrees.
      float r[V];
      load<V>(residual + base + c, r);
#pragma unroll
      for (int k = 0; k < V; ++k) s[i][k] = round_to<T>(s[i][k] + r[k]);
      store<V>(sum_out + base + c, s[i]);
    }
#pragma unroll
    for (int k = 0; k < V; ++k) squares += s[i][k] * s[i][k];
  }
  const float r = 1.0f / sqrtf(row_sum(squares) / static_cast<float>(cols) + eps);
  if (threadIdx.x == 0) rstd[row] = r;
#pragma unroll
  for (int i = 0; i < kVecs; ++i) {
    const int c = vec_column<V>(i);
    if (c >= cols) continue;
    float wv[V];
    load<V>(w + c, wv);
#pragma unroll
    for (int k = 0; k < V; ++k) s[i][k] = wv[k] * (s[i][k] * r);
    store<V>(y + base + c, s[i]);
  }
}

template <typename T>
__global__ void __launch_bounds__(kMaxRowThreads)
    rmsnorm_forward_any_kernel(T* y, float* rstd, T* sum_out, const T* x, const T* residual, const T* w,
                               int64_t rows, int64_t cols, float eps) {
  const int64_t row = int64_t{blockIdx.x} * blockDim.y + threadIdx.y;
  if (row >= rows) return;
  const int64_t base = row * cols;
  float squares = 0;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    float s = to_f32(x[base + c]);
    if (residual) {
      s = round_to<T>(s + to_f32(residual[base + c]));
      sum_out[base + c] = from_f32<T>(s);
    }
    squares += s * s;
  }
  const float r = 1.0f / sqrtf(row_sum(squares) / static_cast<float>(cols) + eps);
  if (threadIdx.x == 0) rstd[row] = r;
  // Each thread reads back only elements it wrote itself.
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    const float s = to_f32(residual ? sum_out[base + c] : x[base + c]);
    y[base + c] = from_f32<T>(to_f32(w[c]) * (s * r));
  }
}

// dx = r (w dy - x r^2 mean(w dy x)) (+ dresidual); worker p adds dy x r of rows p, p + P, ... into its
// partial row. dy and x stay in registers as T between the reduction and dx.
template <typename T, int kVecs>
__global__ void __launch_bounds__(kMaxRowThreads)
    rmsnorm_backward_vec_kernel(T* dx, float* partials, const T* dy, const T* dresidual, const T* x,
                                const T* w, const float* rstd, int64_t rows, int cols, int64_t num_partials) {
  constexpr int V = kVecWidth<T>;
  const int64_t worker = int64_t{blockIdx.x} * blockDim.y + threadIdx.y;
  if (worker >= num_partials) return;  // whole warps, which reduce among themselves only
  float dw[kVecs][V] = {};
  for (int64_t row = worker; row < rows; row += num_partials) {
    const int64_t base = row * cols;
    const float r = rstd[row];
    // dresidual is loaded with dy and x, so a row waits for memory once.
    Vec<T, V> g[kVecs], xv[kVecs], wv[kVecs], dr[kVecs];
    float dot = 0;
#pragma unroll
    for (int i = 0; i < kVecs; ++i) {
      const int c = vec_column<V>(i);
      if (c >= cols) continue;
      g[i] = *reinterpret_cast<const Vec<T, V>*>(dy + base + c);
      xv[i] = *reinterpret_cast<const Vec<T, V>*>(x + base + c);
      if (dx) wv[i] = *reinterpret_cast<const Vec<T, V>*>(w + c);
      if (dx && dresidual) dr[i] = *reinterpret_cast<const Vec<T, V>*>(dresidual + base + c);
#pragma unroll
      for (int k = 0; k < V; ++k) {
        const float gk = to_f32(g[i].e[k]), xk = to_f32(xv[i].e[k]);
        dw[i][k] += gk * xk * r;
        if (dx) dot += to_f32(wv[i].e[k]) * gk * xk;
      }
    }
    if (!dx) continue;
    const float k_row = r * r * row_sum(dot) / static_cast<float>(cols);
#pragma unroll
    for (int i = 0; i < kVecs; ++i) {
      const int c = vec_column<V>(i);
      if (c >= cols) continue;
      float out[V];
#pragma unroll
      for (int k = 0; k < V; ++k) {
        out[k] = r * (to_f32(wv[i].e[k]) * to_f32(g[i].e[k]) - to_f32(xv[i].e[k]) * k_row);
      }
      if (dresidual) {
#pragma unroll
        for (int k = 0; k < V; ++k) out[k] += to_f32(dr[i].e[k]);
      }
      store<V>(dx + base + c, out);
    }
  }
#pragma unroll
  for (int i = 0; i < kVecs; ++i) {
    const int c = vec_column<V>(i);
    if (c < cols) store<V>(partials + worker * cols + c, dw[i]);
  }
}

// As rmsnorm_backward_vec_kernel, one element at a time, the partial row accumulating in the workspace.
template <typename T>
__global__ void __launch_bounds__(kMaxRowThreads)
    rmsnorm_backward_any_kernel(T* dx, float* partials, const T* dy, const T* dresidual, const T* x,
                                const T* w, const float* rstd, int64_t rows, int64_t cols,
                                int64_t num_partials) {
  const int64_t worker = int64_t{blockIdx.x} * blockDim.y + threadIdx.y;
  if (worker >= num_partials) return;
  float* partial = partials + worker * cols;
  for (int64_t row = worker; row < rows; row += num_partials) {
    const int64_t base = row * cols;
    const float r = rstd[row];
    float dot = 0;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      const float g = to_f32(dy[base + c]), xc = to_f32(x[base + c]);
      const float contribution = g * xc * r;
      partial[c] = row == worker ? contribution : partial[c] + contribution;
      if (dx) dot += to_f32(w[c]) * g * xc;
    }
    if (!dx) continue;
    const float k_row = r * r * row_sum(dot) / static_cast<float>(cols);
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      float out = r * (to_f32(w[c]) * to_f32(dy[base + c]) - to_f32(x[base + c]) * k_row);
      if (dresidual) out += to_f32(dresidual[base + c]);
      dx[base + c] = from_f32<T>(out);
    }
  }
}

// LayerNorm forward with the row in registers: the mean first, then the variance as the mean square of the
// deviations from it (a second pass over the registers; E[x^2] - mean^2 would cancel badly when |mean| is
// large next to the spread).
template <typename T, int kVecs>
__global__ void __launch_bounds__(kMaxRowThreads)
    layernorm_forward_vec_kernel(T* y, float* mean, float* rstd, const T* x, const T* w, const T* b,
                                 int64_t rows, int cols, float eps) {
  constexpr int V = kVecWidth<T>;
  const int64_t row = int64_t{blockIdx.x} * blockDim.y + threadIdx.y;
  if (row >= rows) return;  // whole warps, which reduce among themselves only
  const int64_t base = row * cols;
  float s[kVecs][V];
  float sum = 0;
#pragma unroll
  for (int i = 0; i < kVecs; ++i) {
    const int c = vec_column<V>(i);
    if (c >= cols) continue;
    load<V>(x + base + c, s[i]);
#pragma unroll
    for (int k = 0; k < V; ++k) sum += s[i][k];
  }
  const float mu = row_sum(sum) / static_cast<float>(cols);
  float squares = 0;
#pragma unroll
  for (int i = 0; i < kVecs; ++i) {
    if (vec_column<V>(i) >= cols) continue;
#pragma unroll
    for (int k = 0; k < V; ++k) {
      s[i][k] -= mu;
      squares += s[i][k] * s[i][k];
    }
  }
  const float r = 1.0f / sqrtf(row_sum(squares) / static_cast<float>(cols) + eps);
  if (threadIdx.x == 0) {
    mean[row] = mu;
    rstd[row] = r;
  }
#pragma unroll
  for (int i = 0; i < kVecs; ++i) {
    const int c = vec_column<V>(i);
    if (c >= cols) continue;
    float wv[V], bv[V];
    load<V>(w + c, wv);
    load<V>(b + c, bv);
#pragma unroll
    for (int k = 0; k < V; ++k) s[i][k] = s[i][k] * r * wv[k] + bv[k];
    store<V>(y + base + c, s[i]);
  }
}

// As layernorm_forward_vec_kernel, one element at a time, reading the row again for each pass.
template <typename T>
__global__ void __launch_bounds__(kMaxRowThreads)
    layernorm_forward_any_kernel(T* y, float* mean, float* rstd, const T* x, const T* w, const T* b,
                                 int64_t rows, int64_t cols, float eps) {
  const int64_t row = int64_t{blockIdx.x} * blockDim.y + threadIdx.y;
  if (row >= rows) return;
  const int64_t base = row * cols;
  float sum = 0;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) sum += to_f32(x[base + c]);
  const float mu = row_sum(sum) / static_cast<float>(cols);
  float squares = 0;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    const float d = to_f32(x[base + c]) - mu;
    squares += d * d;
  }
  const float r = 1.0f / sqrtf(row_sum(squares) / static_cast<float>(cols) + eps);
  if (threadIdx.x == 0) {
    mean[row] = mu;
    rstd[row] = r;
  }
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x)
    y[base + c] = from_f32<T>((to_f32(x[base + c]) - mu) * r * to_f32(w[c]) + to_f32(b[c]));
}

// With xhat = (x - mean) r and h = w dy: dx = r (h - mean(h) - xhat mean(h xhat)) (+ dresidual); worker p
// adds dy xhat and dy of rows p, p + P, ... into its partial rows of dw and db. dy and x stay in registers as
// T between the reduction and dx.
template <typename T, int kVecs>
__global__ void __launch_bounds__(kMaxRowThreads)
    layernorm_backward_vec_kernel(T* dx, float* dw_partials, float* db_partials, const T* dy,
                                  const T* dresidual, const T* x, const T* w, const float* mean,
                                  const float* rstd, int64_t rows, int cols, int64_t num_partials) {
  constexpr int V = kVecWidth<T>;
  const int64_t worker = int64_t{blockIdx.x} * blockDim.y + threadIdx.y;
  if (worker >= num_partials) return;  // whole warps, which reduce among themselves only
  float dw[kVecs][V] = {}, db[kVecs][V] = {};
  for (int64_t row = worker; row < rows; row += num_partials) {
    const int64_t base = row * cols;
    const float mu = mean[row], r = rstd[row];
    // dresidual is loaded with dy and x, so a row waits for memory once.
    Vec<T, V> g[kVecs], xv[kVecs], wv[kVecs], dr[kVecs];
    float sums[2] = {};  // of h and of h xhat
#pragma unroll
    for (int i = 0; i < kVecs; ++i) {
      const int c = vec_column<V>(i);
      if (c >= cols) continue;
      g[i] = *reinterpret_cast<const Vec<T, V>*>(dy + base + c);
      xv[i] = *reinterpret_cast<const Vec<T, V>*>(x + base + c);
      if (dx) wv[i] = *reinterpret_cast<const Vec<T, V>*>(w + c);
      if (dx && dresidual) dr[i] = *reinterpret_cast<const Vec<T, V>*>(dresidual + base + c);
#pragma unroll
      for (int k = 0; k < V; ++k) {
        const float gk = to_f32(g[i].e[k]), xhat = (to_f32(xv[i].e[k]) - mu) * r;
        dw[i][k] += gk * xhat;
        db[i][k] += gk;
        if (dx) {
          const float h = to_f32(wv[i].e[k]) * gk;
          sums[0] += h;
          sums[1] += h * xhat;
        }
      }
    }
    if (!dx) continue;
    row_sums(sums);
    const float mean_h = sums[0] / static_cast<float>(cols), mean_hx = sums[1] / static_cast<float>(cols);
#pragma unroll
    for (int i = 0; i < kVecs; ++i) {
      const int c = vec_column<V>(i);
      if (c >= cols) continue;
      float out[V];
#pragma unroll
      for (int k = 0; k < V; ++k) {
        const float xhat = (to_f32(xv[i].e[k]) - mu) * r;
        out[k] = r * (to_f32(wv[i].e[k]) * to_f32(g[i].e[k]) - mean_h - xhat * mean_hx);
      }
      if (dresidual) {
#pragma unroll
        for (int k = 0; k < V; ++k) out[k] += to_f32(dr[i].e[k]);
      }
      store<V>(dx + base + c, out);
    }
  }
#pragma unroll
  for (int i = 0; i < kVecs; ++i) {
    const int c = vec_column<V>(i);
    if (c >= cols) continue;
    store<V>(dw_partials + worker * cols + c, dw[i]);
    store<V>(db_partials + worker * cols + c, db[i]);
  }
}

// As layernorm_backward_vec_kernel, one element at a time, the partial rows accumulating in the workspace.
template <typename T>
__global__ void __launch_bounds__(kMaxRowThreads)
    layernorm_backward_any_kernel(T* dx, float* dw_partials, float* db_partials, const T* dy,
                                  const T* dresidual, const T* x, const T* w, const float* mean,
                                  const float* rstd, int64_t rows, int64_t cols, int64_t num_partials) {
  const int64_t worker = int64_t{blockIdx.x} * blockDim.y + threadIdx.y;
  if (worker >= num_partials) return;
  float* dw_partial = dw_partials + worker * cols;
  float* db_partial = db_partials + worker * cols;
  for (int64_t row = worker; row < rows; row += num_partials) {
    const int64_t base = row * cols;
    const float mu = mean[row], r = rstd[row];
    const bool first = row == worker;
    float sums[2] = {};  // of h and of h xhat
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      const float g = to_f32(dy[base + c]), xhat = (to_f32(x[base + c]) - mu) * r;
      dw_partial[c] = first ? g * xhat : dw_partial[c] + g * xhat;
      db_partial[c] = first ? g : db_partial[c] + g;
      if (dx) {
        const float h = to_f32(w[c]) * g;
        sums[0] += h;
        sums[1] += h * xhat;
      }
    }
    if (!dx) continue;
    row_sums(sums);
    const float mean_h = sums[0] / static_cast<float>(cols), mean_hx = sums[1] / static_cast<float>(cols);
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      const float xhat = (to_f32(x[base + c]) - mu) * r;
      float out = r * (to_f32(w[c]) * to_f32(dy[base + c]) - mean_h - xhat * mean_hx);
      if (dresidual) out += to_f32(dresidual[base + c]);
      dx[base + c] = from_f32<T>(out);
    }
  }
}

int64_t partial_count(int64_t rows, int64_t cols) {
  return std::min(rows, std::max<int64_t>(1, kPartialElements / std::max<int64_t>(cols, 1)));
}

// Threads per row and rows per block for rows of `units` (vectors or elements) handled `per_thread` at a
// time.
struct RowBlocks {
  int threads;
  int rows_per_block;
  dim3 block() const { return dim3(threads, rows_per_block); }
  unsigned blocks_for(int64_t row_count) const {
    return static_cast<unsigned>((row_count + rows_per_block - 1) / rows_per_block);
  }
};

RowBlocks row_blocks(int64_t units, int per_thread) {
  const int64_t threads = (units + per_thread - 1) / per_thread;
  const int rounded =
      static_cast<int>(std::min<int64_t>(kMaxRowThreads, (threads + kWarp - 1) / kWarp * kWarp));
  return {rounded, rounded == kWarp ? kWarpRowsPerBlock : 1};
}

// Vectors per thread for the register path (a power of two, at most kMaxElementsPerThread elements), or 0
// when a row is too wide for it.
template <typename T>
int vecs_per_thread(int64_t row_vectors) {
  for (int v = 1; v * kVecWidth<T> <= kMaxElementsPerThread; v *= 2) {
    if (row_vectors <= int64_t{kMaxRowThreads} * v) return v;
  }
  return 0;
}

// Calls fn(std::integral_constant<int, vecs>{}), vecs from vecs_per_thread<T>; only those widths are
// instantiated.
template <typename T, typename Fn>
void with_vecs(int vecs, Fn&& fn) {
  if constexpr (4 * kVecWidth<T> <= kMaxElementsPerThread) {
    if (vecs == 4) return fn(std::integral_constant<int, 4>{});
  }
  if (vecs == 2) return fn(std::integral_constant<int, 2>{});
  fn(std::integral_constant<int, 1>{});
}

// Vectors per thread for the LayerNorm forward and the backward kernels: at least two once a row spans more
// than a warp, so a row takes fewer threads and more rows are in flight per SM.
template <typename T>
int paired_vecs_per_thread(int64_t row_vectors) {
  const int vecs = vecs_per_thread<T>(row_vectors);
  return vecs == 1 && row_vectors > kWarp ? 2 : vecs;
}

// Backward workers for `kernel` launched with `grid`: one wave of resident blocks, at most partial_count.
template <typename Kernel>
int64_t worker_count(Kernel kernel, const RowBlocks& grid, int64_t rows, int64_t cols) {
  int device = 0, sms = 0, blocks_per_sm = 0;
  check_cuda(cudaGetDevice(&device), "norm backward: device");
  check_cuda(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device), "norm backward: SMs");
  check_cuda(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks_per_sm, kernel,
                                                           grid.threads * grid.rows_per_block, 0),
             "norm backward: occupancy");
  const int64_t resident = int64_t{std::max(blocks_per_sm, 1)} * sms * grid.rows_per_block;
  return std::min(resident, partial_count(rows, cols));
}

}  // namespace

void rmsnorm_forward(DType act, void* y, float* rstd, void* sum_out, const void* x, const void* residual,
                     const void* w, int64_t rows, int64_t cols, float eps, cudaStream_t stream) {
  if (rows == 0 || cols == 0) return;
  dispatch_act(act, "rmsnorm_forward", [&](auto tag) {
    using T = decltype(tag);
    constexpr int V = kVecWidth<T>;
    auto* py = static_cast<T*>(y);
    auto* ps = static_cast<T*>(sum_out);
    const auto* px = static_cast<const T*>(x);
    const auto* pr = static_cast<const T*>(residual);
    const auto* pw = static_cast<const T*>(w);
    const int vecs = cols % V == 0 ? vecs_per_thread<T>(cols / V) : 0;
    if (vecs > 0 && aligned16(py) && aligned16(ps) && aligned16(px) && aligned16(pr) && aligned16(pw)) {
      with_vecs<T>(vecs, [&](auto k) {
        const RowBlocks b = row_blocks(cols / V, k);
        rmsnorm_forward_vec_kernel<T, k><<<b.blocks_for(rows), b.block(), 0, stream>>>(
            py, rstd, ps, px, pr, pw, rows, static_cast<int>(cols), eps);
      });
    } else {
      const RowBlocks b = row_blocks(cols, 1);
      rmsnorm_forward_any_kernel<T>
          <<<b.blocks_for(rows), b.block(), 0, stream>>>(py, rstd, ps, px, pr, pw, rows, cols, eps);
    }
    check_launch("rmsnorm_forward");
  });
}

void rmsnorm_backward(DType act, void* dx, float* dw, bool accumulate_dw, const void* dy,
                      const void* dresidual, const void* x, const void* w, const float* rstd, int64_t rows,
                      int64_t cols, void* workspace, cudaStream_t stream) {
  if (rows == 0 || cols == 0) return;
  auto* partials = static_cast<float*>(workspace);
  int64_t num_partials = 0;
  dispatch_act(act, "rmsnorm_backward", [&](auto tag) {
    using T = decltype(tag);
    constexpr int V = kVecWidth<T>;
    auto* pdx = static_cast<T*>(dx);
    const auto* pdy = static_cast<const T*>(dy);
    const auto* pdr = static_cast<const T*>(dresidual);
    const auto* px = static_cast<const T*>(x);
    const auto* pw = static_cast<const T*>(w);
    const int vecs = cols % V == 0 ? paired_vecs_per_thread<T>(cols / V) : 0;
    if (vecs > 0 && aligned16(pdx) && aligned16(partials) && aligned16(pdy) && aligned16(pdr) &&
        aligned16(px) && aligned16(pw)) {
      with_vecs<T>(vecs, [&](auto k) {
        const auto kernel = rmsnorm_backward_vec_kernel<T, k>;
        const RowBlocks b = row_blocks(cols / V, k);
        num_partials = worker_count(kernel, b, rows, cols);
        kernel<<<b.blocks_for(num_partials), b.block(), 0, stream>>>(
            pdx, partials, pdy, pdr, px, pw, rstd, rows, static_cast<int>(cols), num_partials);
      });
    } else {
      const auto kernel = rmsnorm_backward_any_kernel<T>;
      const RowBlocks b = row_blocks(cols, 1);
      num_partials = worker_count(kernel, b, rows, cols);
      kernel<<<b.blocks_for(num_partials), b.block(), 0, stream>>>(pdx, partials, pdy, pdr, px, pw, rstd,
                                                                   rows, cols, num_partials);
    }
    check_launch("rmsnorm_backward");
  });
  partial_sums::add({{dw, nullptr}, {partials, nullptr}, {accumulate_dw, false}}, 1, num_partials, cols,
                    stream);
  check_launch("rmsnorm_backward dw");
}

size_t rmsnorm_backward_workspace_bytes(int64_t rows, int64_t cols) {
  return static_cast<size_t>(partial_count(rows, cols) * cols) * sizeof(float);
}

void layernorm_forward(DType act, void* y, float* mean, float* rstd, const void* x, const void* w,
                       const void* b, int64_t rows, int64_t cols, float eps, cudaStream_t stream) {
  if (rows == 0 || cols == 0) return;
  dispatch_act(act, "layernorm_forward", [&](auto tag) {
    using T = decltype(tag);
    constexpr int V = kVecWidth<T>;
    auto* py = static_cast<T*>(y);
    const auto* px = static_cast<const T*>(x);
    const auto* pw = static_cast<const T*>(w);
    const auto* pb = static_cast<const T*>(b);
    const int vecs = cols % V == 0 ? paired_vecs_per_thread<T>(cols / V) : 0;
    if (vecs > 0 && aligned16(py) && aligned16(px) && aligned16(pw) && aligned16(pb)) {
      with_vecs<T>(vecs, [&](auto k) {
        const RowBlocks grid = row_blocks(cols / V, k);
        layernorm_forward_vec_kernel<T, k><<<grid.blocks_for(rows), grid.block(), 0, stream>>>(
            py, mean, rstd, px, pw, pb, rows, static_cast<int>(cols), eps);
      });
    } else {
      const RowBlocks grid = row_blocks(cols, 1);
      layernorm_forward_any_kernel<T>
          <<<grid.blocks_for(rows), grid.block(), 0, stream>>>(py, mean, rstd, px, pw, pb, rows, cols, eps);
    }
    check_launch("layernorm_forward");
  });
}

// The workspace holds the dw partial rows, then the db ones (each partial_count rows long).
void layernorm_backward(DType act, void* dx, float* dw, float* db, const bool (&accumulate)[2],
                        const void* dy, const void* dresidual, const void* x, const void* w,
                        const float* mean, const float* rstd, int64_t rows, int64_t cols, void* workspace,
                        cudaStream_t stream) {
  if (rows == 0 || cols == 0) return;
  auto* dw_partials = static_cast<float*>(workspace);
  float* db_partials = dw_partials + partial_count(rows, cols) * cols;
  int64_t num_partials = 0;
  dispatch_act(act, "layernorm_backward", [&](auto tag) {
    using T = decltype(tag);
    constexpr int V = kVecWidth<T>;
    auto* pdx = static_cast<T*>(dx);
    const auto* pdy = static_cast<const T*>(dy);
    const auto* pdr = static_cast<const T*>(dresidual);
    const auto* px = static_cast<const T*>(x);
    const auto* pw = static_cast<const T*>(w);
    const int vecs = cols % V == 0 ? paired_vecs_per_thread<T>(cols / V) : 0;
    if (vecs > 0 && aligned16(pdx) && aligned16(dw_partials) && aligned16(db_partials) && aligned16(pdy) &&
        aligned16(pdr) && aligned16(px) && aligned16(pw)) {
      with_vecs<T>(vecs, [&](auto k) {
        const auto kernel = layernorm_backward_vec_kernel<T, k>;
        const RowBlocks grid = row_blocks(cols / V, k);
        num_partials = worker_count(kernel, grid, rows, cols);
        kernel<<<grid.blocks_for(num_partials), grid.block(), 0, stream>>>(
            pdx, dw_partials, db_partials, pdy, pdr, px, pw, mean, rstd, rows, static_cast<int>(cols),
            num_partials);
      });
    } else {
      const auto kernel = layernorm_backward_any_kernel<T>;
      const RowBlocks grid = row_blocks(cols, 1);
      num_partials = worker_count(kernel, grid, rows, cols);
      kernel<<<grid.blocks_for(num_partials), grid.block(), 0, stream>>>(
          pdx, dw_partials, db_partials, pdy, pdr, px, pw, mean, rstd, rows, cols, num_partials);
    }
    check_launch("layernorm_backward");
  });
  partial_sums::add({{dw, db}, {dw_partials, db_partials}, {accumulate[0], accumulate[1]}}, db ? 2 : 1,
                    num_partials, cols, stream);
  check_launch("layernorm_backward dw and db");
}

size_t layernorm_backward_workspace_bytes(int64_t rows, int64_t cols) {
  return 2 * static_cast<size_t>(partial_count(rows, cols) * cols) * sizeof(float);
}

}  // namespace strand::cuda
