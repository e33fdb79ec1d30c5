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

// A [rows, cols] matrix whose rows lie ld elements apart (StridedRows, typed).
template <typename T>
struct Rows {
  T* data;
  int64_t ld;
  __device__ T* at(int64_t row, int64_t col) const { return data + row * ld + col; }
};

// Threads over [rows, V-element vectors of a row]: thread x walks a row's vectors, thread y the rows.
template <typename T, int V>
__global__ void __launch_bounds__(kThreads)
    swiglu_forward_kernel(Rows<T> out, Rows<const T> gate, Rows<const T> up, int64_t rows, int64_t cols) {
  const int64_t row = int64_t{blockIdx.x} * blockDim.y + threadIdx.y;
  const int64_t col = (int64_t{blockIdx.y} * blockDim.x + threadIdx.x) * V;
  if (row >= rows || col >= cols) return;
  float g[V], u[V], o[V];
  load<V>(gate.at(row, col), g);
  load<V>(up.at(row, col), u);
#pragma unroll
  for (int k = 0; k < V; ++k) o[k] = g[k] * sigmoid(g[k]) * u[k];
  store<V>(out.at(row, col), o);
}

// silu'(g) = s + g s (1 - s), s = sigmoid(g).
template <typename T, int V>
__global__ void __launch_bounds__(kThreads)
    swiglu_backward_kernel(Rows<T> dgate, Rows<T> dup, Rows<const T> dout, Rows<const T> gate,
                           Rows<const T> up, int64_t rows, int64_t cols) {
  const int64_t row = int64_t{blockIdx.x} * blockDim.y + threadIdx.y;
  const int64_t col = (int64_t{blockIdx.y} * blockDim.x + threadIdx.x) * V;
  if (row >= rows || col >= cols) return;
  float d[V], g[V], u[V], dg[V], du[V];
  load<V>(dout.at(row, col), d);
  load<V>(gate.at(row, col), g);
  load<V>(up.at(row, col), u);
#pragma unroll
  for (int k = 0; k < V; ++k) {
    const float s = sigmoid(g[k]);
    dg[k] = d[k] * u[k] * (s + g[k] * s * (1.0f - s));
    du[k] = d[k] * g[k] * s;
  }
  store<V>(dgate.at(row, col), dg);
  store<V>(dup.at(row, col), du);
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

// The typed view of m.
template <typename T>
Rows<T> rows_of(StridedRows m) {
  return {static_cast<T*>(m.data), m.ld};
}
template <typename T>
Rows<const T> rows_of(ConstStridedRows m) {
  return {static_cast<const T*>(m.data), m.ld};
}

// Whether every matrix can be read and written in V-element vectors: each row starts 16-byte aligned.
template <int V, typename... M>
bool vectorizable(int64_t cols, const M&... m) {
  return cols % V == 0 && ((m.ld % V == 0 && aligned16(m.data)) && ...);
}

}  // namespace

void swiglu_forward(DType act, int64_t rows, int64_t cols, StridedRows out, ConstStridedRows gate,
                    ConstStridedRows up, cudaStream_t stream) {
  if (rows == 0 || cols == 0) return;
  dispatch_act(act, "swiglu_forward", [&](auto tag) {
    using T = decltype(tag);
    constexpr int V = kVecWidth<T>;
    const Rows<T> o = rows_of<T>(out);
    const Rows<const T> g = rows_of<T>(gate), u = rows_of<T>(up);
    if (vectorizable<V>(cols, out, gate, up)) {
      const RowTiles t = row_tiles(rows, cols / V);
      swiglu_forward_kernel<T, V><<<t.grid, t.block, 0, stream>>>(o, g, u, rows, cols);
    } else {
      const RowTiles t = row_tiles(rows, cols);
      swiglu_forward_kernel<T, 1><<<t.grid, t.block, 0, stream>>>(o, g, u, rows, cols);
    }
    check_launch("swiglu_forward");
  });
}

void swiglu_backward(DType act, int64_t rows, int64_t cols, StridedRows dgate, StridedRows dup,
                     ConstStridedRows dout, ConstStridedRows gate, ConstStridedRows up, cudaStream_t stream) {
  if (rows == 0 || cols == 0) return;
  dispatch_act(act, "swiglu_backward", [&](auto tag) {
    using T = decltype(tag);
    constexpr int V = kVecWidth<T>;
    const Rows<T> dg = rows_of<T>(dgate), du = rows_of<T>(dup);
    const Rows<const T> d = rows_of<T>(dout), g = rows_of<T>(gate), u = rows_of<T>(up);
    if (vectorizable<V>(cols, dgate, dup, dout, gate, up)) {
      const RowTiles t = row_tiles(rows, cols / V);
      swiglu_backward_kernel<T, V><<<t.grid, t.block, 0, stream>>>(dg, du, d, g, u, rows, cols);
    } else {
      const RowTiles t = row_tiles(rows, cols);
      swiglu_backward_kernel<T, 1><<<t.grid, t.block, 0, stream>>>(dg, du, d, g, u, rows, cols);
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
