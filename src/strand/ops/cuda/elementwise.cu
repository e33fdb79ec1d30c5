// Elementwise arithmetic over contiguous buffers: 16-byte accesses when every pointer allows them, the
// remainder (and misaligned buffers) one element at a time.
#include "strand/ops/cuda/elementwise.h"

#include "strand/core/error.h"

#include <cuda_bf16.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <type_traits>

namespace strand::cuda {
namespace {

constexpr int kThreads = 256;
// Grid-stride loops cover any n; more blocks than this only add scheduling overhead.
constexpr int64_t kMaxBlocks = 65536;

// Elements of T moved by one 16-byte access.
template <typename T>
inline constexpr int kVecWidth = 16 / static_cast<int>(sizeof(T));

template <typename T, int N>
struct alignas(sizeof(T) * N) Vec {
  T e[N];
};

template <typename T>
__device__ __forceinline__ float to_f32(T v) {
  if constexpr (std::is_same_v<T, float>) {
    return v;
  } else {
    return __bfloat162float(v);
  }
}

template <typename T>
__device__ __forceinline__ T from_f32(float v) {
  if constexpr (std::is_same_v<T, float>) {
    return v;
  } else {
    return __float2bfloat16_rn(v);
  }
}

// out = the N elements of T at p, widened to F32, read in accesses of at most 16 bytes (p aligned to them).
template <int N, typename T>
__device__ __forceinline__ void load(const T* p, float (&out)[N]) {
  constexpr int kChunk = std::min(N, kVecWidth<T>);
#pragma unroll
  for (int i = 0; i < N; i += kChunk) {
    const Vec<T, kChunk> v = *reinterpret_cast<const Vec<T, kChunk>*>(p + i);
#pragma unroll
    for (int k = 0; k < kChunk; ++k) out[i + k] = to_f32(v.e[k]);
  }
}

// The N values of in rounded to T and written at p, in accesses of at most 16 bytes.
template <int N, typename T>
__device__ __forceinline__ void store(T* p, const float (&in)[N]) {
  constexpr int kChunk = std::min(N, kVecWidth<T>);
#pragma unroll
  for (int i = 0; i < N; i += kChunk) {
    Vec<T, kChunk> v;
#pragma unroll
    for (int k = 0; k < kChunk; ++k) v.e[k] = from_f32<T>(in[i + k]);
    *reinterpret_cast<Vec<T, kChunk>*>(p + i) = v;
  }
}

// Applies op to n elements: op.template apply<V>(i) handles elements [i, i + V). The first n / V * V go V at
// a time, the rest singly.
template <int V, typename Op>
__global__ void __launch_bounds__(kThreads) elementwise_kernel(Op op, int64_t n) {
  const int64_t first = int64_t{blockIdx.x} * kThreads + threadIdx.x;
  const int64_t stride = int64_t{gridDim.x} * kThreads;
  const int64_t vectors = n / V;
  for (int64_t i = first; i < vectors; i += stride) op.template apply<V>(i * V);
  if (first < n - vectors * V) op.template apply<1>(vectors * V + first);
}

template <typename T>
struct AddInPlace {
  T* dst;
  const T* src;
  template <int V>
  __device__ void apply(int64_t i) const {
    float d[V], s[V];
    load<V>(dst + i, d);
    load<V>(src + i, s);
#pragma unroll
    for (int k = 0; k < V; ++k) d[k] += s[k];
    store<V>(dst + i, d);
  }
};

template <typename T>
struct CastFromF32 {
  T* dst;
  const float* src;
  template <int V>
  __device__ void apply(int64_t i) const {
    float v[V];
    load<V>(src + i, v);
    store<V>(dst + i, v);
  }
};

struct FillF32 {
  float* dst;
  float value;
  template <int V>
  __device__ void apply(int64_t i) const {
    float v[V];
#pragma unroll
    for (int k = 0; k < V; ++k) v[k] = value;
    store<V>(dst + i, v);
  }
};

bool aligned16(const void* p) {
  return reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

// Runs op over n elements, V at a time when vectorized.
template <int V, typename Op>
void launch_elementwise(const Op& op, int64_t n, bool vectorized, cudaStream_t stream, const char* what) {
  if (n == 0) return;
  const int64_t per_thread = vectorized ? V : 1;
  const int64_t blocks = std::clamp<int64_t>((n / per_thread + kThreads - 1) / kThreads, 1, kMaxBlocks);
  if (vectorized) {
    elementwise_kernel<V><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(op, n);
  } else {
    elementwise_kernel<1><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(op, n);
  }
  check_launch(what);
}

template <typename Fn>
void dispatch_act(DType act, const char* op, Fn&& fn) {
  if (act == DType::F32) return fn(float{});
  if (act == DType::BF16) return fn(__nv_bfloat16{});
  throw Error(std::string(op) + ": activations must be F32 or BF16, got " + std::string(dtype_name(act)));
}

}  // namespace

void add_inplace(DType act, void* dst, const void* src, int64_t n, cudaStream_t stream) {
  dispatch_act(act, "add_inplace", [&](auto tag) {
    using T = decltype(tag);
    const AddInPlace<T> op{static_cast<T*>(dst), static_cast<const T*>(src)};
    launch_elementwise<kVecWidth<T>>(op, n, aligned16(dst) && aligned16(src), stream, "add_inplace");
  });
}

void cast_from_f32(DType act, void* dst, const float* src, int64_t n, cudaStream_t stream) {
  dispatch_act(act, "cast_from_f32", [&](auto tag) {
    using T = decltype(tag);
    const CastFromF32<T> op{static_cast<T*>(dst), src};
    launch_elementwise<kVecWidth<T>>(op, n, aligned16(dst) && aligned16(src), stream, "cast_from_f32");
  });
}

void fill_f32(float* dst, float value, int64_t n, cudaStream_t stream) {
  launch_elementwise<kVecWidth<float>>(FillF32{dst, value}, n, aligned16(dst), stream, "fill_f32");
}

}  // namespace strand::cuda
