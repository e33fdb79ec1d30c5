// Elementwise arithmetic over contiguous buffers: 16-byte accesses when every pointer allows them, the
// remainder (and misaligned buffers) one element at a time.
#include "strand/ops/cuda/elementwise.h"

#include "strand/core/error.h"
#include "strand/ops/cuda/elementwise_launch.cuh"
#include "strand/ops/cuda/vector_access.cuh"

#include <cuda_bf16.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <type_traits>

namespace strand::cuda {
namespace {

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
