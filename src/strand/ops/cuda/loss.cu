// Softmax cross-entropy over small vocabularies.
//
// Forward: a group of lanes (a power of two up to a warp, sized to the row) streams a row once, keeping an
// online max and sum of exponentials per lane, then merges the lanes' pairs. A second, single-block kernel
// reduces the per-row losses into the F64 sums in a fixed order, so the sums need no workspace and give the
// same bits on every run. Backward is pointwise over [rows, vocab].
#include "strand/ops/cuda/loss.h"

#include "strand/core/error.h"
#include "strand/ops/cuda/vector_access.cuh"

#include <cuda_bf16.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>

namespace strand::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarp = 32;
constexpr unsigned kFullMask = 0xffffffffu;
constexpr int kSumThreads = 1024;
constexpr int kSumUnroll = 8;

__device__ __forceinline__ bool counted(int32_t label, float weight, int32_t ignore_index) {
  return label != ignore_index && weight != 0.0f;
}

// sum, kept relative to max, re-expressed relative to new_max >= max (a lane that saw nothing has max = -inf
// and sum = 0, and stays 0).
__device__ __forceinline__ float rescale(float sum, float max, float new_max) {
  return max == new_max ? sum : sum * expf(max - new_max);
}

// One row per `group` lanes (a power of two <= kWarp); lane j of a group reads the row's V-element vectors
// j, j + group, ...
template <typename T, int V>
__global__ void __launch_bounds__(kThreads)
    cross_entropy_forward_kernel(float* losses, float* lse, const T* logits, const int32_t* labels,
                                 const float* weights, int64_t rows, int64_t vocab, int group,
                                 int32_t ignore_index) {
  const int64_t thread = int64_t{blockIdx.x} * kThreads + threadIdx.x;
  const int64_t row = thread / group;
  const int lane = static_cast<int>(thread % group);
  float max = -INFINITY, sum = 0.0f;
  if (row < rows) {
    const T* z = logits + row * vocab;
#pragma unroll 4
    for (int64_t j = lane; j < vocab / V; j += group) {
      float v[V];
      load<V>(z + j * V, v);
      float vmax = v[0];
#pragma unroll
      for (int k = 1; k < V; ++k) vmax = fmaxf(vmax, v[k]);
      if (vmax > max) {
        sum = rescale(sum, max, vmax);
        max = vmax;
      }
      float vsum = 0.0f;
#pragma unroll
      for (int k = 0; k < V; ++k) vsum += expf(v[k] - max);
      sum += vsum;
    }
  }
  // Every lane of the warp takes part; a group's offsets stay inside the group.
  for (int offset = group / 2; offset > 0; offset /= 2) {
    const float other_max = __shfl_xor_sync(kFullMask, max, offset);
    const float other_sum = __shfl_xor_sync(kFullMask, sum, offset);
    const float new_max = fmaxf(max, other_max);
    sum = rescale(sum, max, new_max) + rescale(other_sum, other_max, new_max);
    max = new_max;
  }
  if (row >= rows || lane != 0) return;
  const float log_sum = logf(sum);
  lse[row] = max + log_sum;
  // loss = lse - z[label], formed as (max - z[label]) + log_sum so a confident row does not lose its small
  // loss to the cancellation of two large terms.
  const int32_t label = labels[row];
  const float weight = weights ? weights[row] : 1.0f;
  losses[row] =
      counted(label, weight, ignore_index) ? (max - to_f32(logits[row * vocab + label])) + log_sum : 0.0f;
}

// Sum over the block of v, in a fixed order; the result is valid in thread 0.
__device__ double block_sum(double v) {
  __shared__ double warp_sums[kSumThreads / kWarp];
  for (int offset = kWarp / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(kFullMask, v, offset);
  if (threadIdx.x % kWarp == 0) warp_sums[threadIdx.x / kWarp] = v;
  __syncthreads();
  double total = 0;
  if (threadIdx.x == 0) {
    for (double s : warp_sums) total += s;
  }
  __syncthreads();  // warp_sums is reused by the next call
  return total;
}

// sums += (sum of w * loss, sum of w, count) over counted rows; one block, thread i taking rows i, i +
// kSumThreads, ... in order, kSumUnroll of them loaded at a time.
__global__ void __launch_bounds__(kSumThreads)
    cross_entropy_sums_kernel(double* sums, const float* losses, const int32_t* labels, const float* weights,
                              int64_t rows, int32_t ignore_index) {
  double loss_sum = 0, weight_sum = 0, count = 0;
  for (int64_t base = threadIdx.x; base < rows; base += kSumThreads * kSumUnroll) {
    int32_t label[kSumUnroll];
    float weight[kSumUnroll], loss[kSumUnroll];
#pragma unroll
    for (int u = 0; u < kSumUnroll; ++u) {
      const int64_t row = base + u * kSumThreads;
      const bool valid = row < rows;
      label[u] = valid ? labels[row] : ignore_index;
      weight[u] = valid && weights ? weights[row] : 1.0f;
      loss[u] = valid ? losses[row] : 0.0f;
    }
#pragma unroll
    for (int u = 0; u < kSumUnroll; ++u) {
      if (!counted(label[u], weight[u], ignore_index)) continue;
      loss_sum += static_cast<double>(weight[u]) * loss[u];
      weight_sum += weight[u];
      count += 1;
    }
  }
  loss_sum = block_sum(loss_sum);
  weight_sum = block_sum(weight_sum);
  count = block_sum(count);
  if (threadIdx.x == 0) {
    sums[0] += loss_sum;
    sums[1] += weight_sum;
    sums[2] += count;
  }
}

// Block: x over a row's V-element vectors, y over rows.
template <typename T, int V>
__global__ void __launch_bounds__(kThreads)
    cross_entropy_backward_kernel(T* dlogits, const T* logits, const int32_t* labels, const float* weights,
                                  const float* lse, float scale, const float* scale_device, int64_t rows,
                                  int64_t vocab, int32_t ignore_index) {
  const int64_t row = int64_t{blockIdx.x} * blockDim.y + threadIdx.y;
  const int64_t col = (int64_t{blockIdx.y} * blockDim.x + threadIdx.x) * V;
  if (row >= rows || col >= vocab) return;
  const int32_t label = labels[row];
  const float weight = weights ? weights[row] : 1.0f;
  float g[V];
  if (counted(label, weight, ignore_index)) {
    const float k = scale * (scale_device ? *scale_device : 1.0f) * weight;
    const float row_lse = lse[row];
    load<V>(logits + row * vocab + col, g);
#pragma unroll
    for (int i = 0; i < V; ++i) {
      const float p = expf(g[i] - row_lse);
      g[i] = k * (col + i == label ? p - 1.0f : p);
    }
  } else {
#pragma unroll
    for (int i = 0; i < V; ++i) g[i] = 0.0f;
  }
  store<V>(dlogits + row * vocab + col, g);
}

template <typename T, int V>
void launch_forward(float* losses, float* lse, const T* logits, const int32_t* labels, const float* weights,
                    int64_t rows, int64_t vocab, int32_t ignore_index, cudaStream_t stream) {
  // One vector per lane up to a warp per row; wider rows loop.
  const auto group = static_cast<int>(std::min<uint64_t>(kWarp, std::bit_ceil(uint64_t(vocab / V))));
  const auto blocks = static_cast<unsigned>((rows * group + kThreads - 1) / kThreads);
  cross_entropy_forward_kernel<T, V><<<blocks, kThreads, 0, stream>>>(losses, lse, logits, labels, weights,
                                                                      rows, vocab, group, ignore_index);
}

template <typename T, int V>
void launch_backward(T* dlogits, const T* logits, const int32_t* labels, const float* weights,
                     const float* lse, float scale, const float* scale_device, int64_t rows, int64_t vocab,
                     int32_t ignore_index, cudaStream_t stream) {
  const int64_t row_vectors = vocab / V;
  const auto width = static_cast<int>(std::min<uint64_t>(kThreads, std::bit_ceil(uint64_t(row_vectors))));
  const int height = kThreads / width;
  const dim3 grid(static_cast<unsigned>((rows + height - 1) / height),
                  static_cast<unsigned>((row_vectors + width - 1) / width));
  cross_entropy_backward_kernel<T, V><<<grid, dim3(width, height), 0, stream>>>(
      dlogits, logits, labels, weights, lse, scale, scale_device, rows, vocab, ignore_index);
}

}  // namespace

void cross_entropy_forward(DType act, float* losses, float* lse, double* sums, const void* logits,
                           const int32_t* labels, const float* weights, int64_t rows, int64_t vocab,
                           int32_t ignore_index, cudaStream_t stream) {
  if (rows == 0) return;
  dispatch_act(act, "cross_entropy_forward", [&](auto tag) {
    using T = decltype(tag);
    constexpr int V = kVecWidth<T>;
    const auto* z = static_cast<const T*>(logits);
    if (vocab % V == 0 && aligned16(z)) {
      launch_forward<T, V>(losses, lse, z, labels, weights, rows, vocab, ignore_index, stream);
    } else {
      launch_forward<T, 1>(losses, lse, z, labels, weights, rows, vocab, ignore_index, stream);
    }
    check_launch("cross_entropy_forward");
  });
  if (sums == nullptr) return;
  cross_entropy_sums_kernel<<<1, kSumThreads, 0, stream>>>(sums, losses, labels, weights, rows, ignore_index);
  check_launch("cross_entropy_forward sums");
}

void cross_entropy_backward(DType act, void* dlogits, const void* logits, const int32_t* labels,
                            const float* weights, const float* lse, float scale, const float* scale_device,
                            int64_t rows, int64_t vocab, int32_t ignore_index, cudaStream_t stream) {
  if (rows == 0 || vocab == 0) return;
  dispatch_act(act, "cross_entropy_backward", [&](auto tag) {
    using T = decltype(tag);
    constexpr int V = kVecWidth<T>;
    auto* g = static_cast<T*>(dlogits);
    const auto* z = static_cast<const T*>(logits);
    if (vocab % V == 0 && aligned16(g) && aligned16(z)) {
      launch_backward<T, V>(g, z, labels, weights, lse, scale, scale_device, rows, vocab, ignore_index,
                            stream);
    } else {
      launch_backward<T, 1>(g, z, labels, weights, lse, scale, scale_device, rows, vocab, ignore_index,
                            stream);
    }
    check_launch("cross_entropy_backward");
  });
}

}  // namespace strand::cuda
