// Internal to the CUDA kernels: 16-byte vector loads and stores of F32/BF16 elements widened to F32, and the
// runtime dispatch of an activation dtype to its storage type.
#pragma once

#include "strand/core/dtype.h"
#include "strand/core/error.h"

#include <cuda_bf16.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <type_traits>

namespace strand::cuda {

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

inline bool aligned16(const void* p) {
  return reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

// fn(float{}) or fn(__nv_bfloat16{}) for act F32 or BF16; any other dtype is an error naming op.
template <typename Fn>
void dispatch_act(DType act, const char* op, Fn&& fn) {
  if (act == DType::F32) return fn(float{});
  if (act == DType::BF16) return fn(__nv_bfloat16{});
  throw Error(std::string(op) + ": activations must be F32 or BF16, got " + std::string(dtype_name(act)));
}

}  // namespace strand::cuda
