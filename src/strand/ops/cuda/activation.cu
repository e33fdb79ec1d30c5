// SwiGLU and exact-erf GELU, forward and backward: pointwise F32 arithmetic on 16-byte vectors where widths,
// leading dimensions and pointers allow, one element at a time otherwise.
#include "strand/ops/cuda/activation.h"

#include "strand/core/error.h"
#include "strand/ops/cuda/elementwise_launch.cuh"
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

__device__ __forceinline__ float sigmoid(float x) {
  return 1.0f / (1.0f + expf(-x));
}

constexpr float kInvSqrt2 = 0.70710678118654752440f;
constexpr float kInvSqrt2Pi = 0.39894228040143267794f;

// Threads over [rows, V-element vectors of a row]: thread x walks a row's vectors, thread y the rows.
template <typename T, int V>
__global__ void __launch_bounds__(kThreads)
    swiglu_forward_kernel(T* out, int64_t ld_out, const T* gate, const T* up, int64_t ld_in, int64_t rows,
                          int64_t cols) {
  const int64_t row = int64_t{blockIdx.x} * blockDim.y + threadIdx.y;
  const int64_t col = (int64_t{blockIdx.y} * blockDim.x + threadIdx.x) * V;
  if (row >= rows || col >= cols) return;
  float g[V], u[V], o[V];
  load<V>(gate + row * ld_in + col, g);
  load<V>(up + row * ld_in + col, u);
#pragma unroll
  for (int k = 0; k < V; ++k) o[k] = g[k] * sigmoid(g[k]) * u[k];
  store<V>(out + row * ld_out + col, o);
}

// silu'(g) = s + g s (1 - s), s = sigmoid(g).
template <typename T, int V>
__global__ void __launch_bounds__(kThreads)
    swiglu_backward_kernel(T* dgate, T* dup, const T* dout, int64_t ld_out, const T* gate, const T* up,
                           int64_t ld_in, int64_t rows, int64_t cols) {
  const int64_t row = int64_t{blockIdx.x} * blockDim.y + threadIdx.y;
  const int64_t col = (int64_t{blockIdx.y} * blockDim.x + threadIdx.x) * V;
  if (row >= rows || col >= cols) return;
  float d[V], g[V], u[V], dg[V], du[V];
  load<V>(dout + row * ld_out + col, d);
  load<V>(gate + row * ld_in + col, g);
  load<V>(up + row * ld_in + col, u);
#pragma unroll
  for (int k = 0; k < V; ++k) {
    const float s = sigmoid(g[k]);
    dg[k] = d[k] * u[k] * (s + g[k] * s * (1.0f - s));
    du[k] = d[k] * g[k] * s;
  }
  store<V>(dgate + row * ld_in + col, dg);
  store<V>(dup + row * ld_in + col, du);
}

template <typename T>
struct GeluForward {
  T* out;
  const T* x;
  template <int V>
  __device__ void apply(int64_t i) const {
    float v[V];
    load<V>(x + i, v);
#pragma unroll
    for (int k = 0; k < V; ++k) v[k] = 0.5f * v[k] * (1.0f + erff(v[k] * kInvSqrt2));
    store<V>(out + i, v);
  }
};

// gelu'(x) = Phi(x) + x phi(x).
template <typename T>
struct GeluBackward {
  T* dx;
  const T* dout;
  const T* x;
  template <int V>
  __device__ void apply(int64_t i) const {
    float v[V], d[V];
    load<V>(x + i, v);
    load<V>(dout + i, d);
#pragma unroll
    for (int k = 0; k < V; ++k) {
      const float cdf = 0.5f * (1.0f + erff(v[k] * kInvSqrt2));
      const float pdf = kInvSqrt2Pi * expf(-0.5f * v[k] * v[k]);
      d[k] *= cdf + v[k] * pdf;
    }
    store<V>(dx + i, d);
  }
};

// Blocks of kThreads over a [rows, row_vectors] grid of work: x spans a row's vectors (a power of two up to
// kThreads wide), y spans rows, so narrow rows still fill a block.
struct RowTiles {
  dim3 grid, block;
};

RowTiles row_tiles(int64_t rows, int64_t row_vectors) {
  const auto width = static_cast<int>(std::min<uint64_t>(kThreads, std::bit_ceil(uint64_t(row_vectors))));
  const int height = kThreads / width;
  return {dim3(static_cast<unsigned>((rows + height - 1) / height),
               static_cast<unsigned>((row_vectors + width - 1) / width)),
          dim3(width, height)};
}

}  // namespace

void swiglu_forward(DType act, void* out, int64_t ld_out, const void* gate, const void* up, int64_t ld_in,
                    int64_t rows, int64_t cols, cudaStream_t stream) {
  if (rows == 0 || cols == 0) return;
  dispatch_act(act, "swiglu_forward", [&](auto tag) {
    using T = decltype(tag);
    constexpr int V = kVecWidth<T>;
    auto* o = static_cast<T*>(out);
    const auto* g = static_cast<const T*>(gate);
    const auto* u = static_cast<const T*>(up);
    if (cols % V == 0 && ld_in % V == 0 && ld_out % V == 0 && aligned16(o) && aligned16(g) && aligned16(u)) {
      const RowTiles t = row_tiles(rows, cols / V);
      swiglu_forward_kernel<T, V><<<t.grid, t.block, 0, stream>>>(o, ld_out, g, u, ld_in, rows, cols);
    } else {
      const RowTiles t = row_tiles(rows, cols);
      swiglu_forward_kernel<T, 1><<<t.grid, t.block, 0, stream>>>(o, ld_out, g, u, ld_in, rows, cols);
    }
    check_launch("swiglu_forward");
  });
}

void swiglu_backward(DType act, void* dgate, void* dup, const void* dout, int64_t ld_out, const void* gate,
                     const void* up, int64_t ld_in, int64_t rows, int64_t cols, cudaStream_t stream) {
  if (rows == 0 || cols == 0) return;
  dispatch_act(act, "swiglu_backward", [&](auto tag) {
    using T = decltype(tag);
    constexpr int V = kVecWidth<T>;
    auto* dg = static_cast<T*>(dgate);
    auto* du = static_cast<T*>(dup);
    const auto* d = static_cast<const T*>(dout);
    const auto* g = static_cast<const T*>(gate);
    const auto* u = static_cast<const T*>(up);
    if (cols % V == 0 && ld_in % V == 0 && ld_out % V == 0 && aligned16(dg) && aligned16(du) &&
        aligned16(d) && aligned16(g) && aligned16(u)) {
      const RowTiles t = row_tiles(rows, cols / V);
      swiglu_backward_kernel<T, V>
          <<<t.grid, t.block, 0, stream>>>(dg, du, d, ld_out, g, u, ld_in, rows, cols);
    } else {
      const RowTiles t = row_tiles(rows, cols);
      swiglu_backward_kernel<T, 1>
          <<<t.grid, t.block, 0, stream>>>(dg, du, d, ld_out, g, u, ld_in, rows, cols);
    }
    check_launch("swiglu_backward");
  });
}

void gelu_forward(DType act, void* out, const void* x, int64_t n, cudaStream_t stream) {
  dispatch_act(act, "gelu_forward", [&](auto tag) {
    using T = decltype(tag);
    const GeluForward<T> op{static_cast<T*>(out), static_cast<const T*>(x)};
    launch_elementwise<kVecWidth<T>>(op, n, aligned16(out) && aligned16(x), stream, "gelu_forward");
  });
}

void gelu_backward(DType act, void* dx, const void* dout, const void* x, int64_t n, cudaStream_t stream) {
  dispatch_act(act, "gelu_backward", [&](auto tag) {
    using T = decltype(tag);
    const GeluBackward<T> op{static_cast<T*>(dx), static_cast<const T*>(dout), static_cast<const T*>(x)};
    launch_elementwise<kVecWidth<T>>(op, n, aligned16(dx) && aligned16(dout) && aligned16(x), stream,
                                     "gelu_backward");
  });
}

}  // namespace strand::cuda
