// Decode attention: block (query row r, head h) of kThreads threads. The visible keys are walked in chunks of
// kThreads, each thread scoring one key of a chunk (a dot product over D in F32, q staged in shared memory).
//   pass 1: every thread keeps an online (max, sum of exp(s - max)) over the keys it scored; the pairs are
//           merged across the warp by shuffles, then across the warps by thread 0, in a fixed order, giving
//           lse = max + log(sum);
//   pass 2: the scores are recomputed and turned into p_j = exp(s_j - lse) in shared memory, and each thread,
//           owning head-dim columns c, c + kThreads, ..., accumulates sum_j p_j v_j[c] in key order.
// A decode step has few query rows, so the grid is small; the work per block is a pass over the cache, which
// is what bounds a decode step anyway.
#include "strand/core/error.h"
#include "strand/ops/cuda/decode_attention.h"
#include "strand/ops/cuda/vector_access.cuh"

#include <cuda_bf16.h>

#include <string>

namespace strand::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
constexpr int kMaxHeadDim = 256;
constexpr int kColumnsPerThread = kMaxHeadDim / kThreads;

template <typename T>
struct Problem {
  const T* q;
  const T* k;
  const T* v;
  T* out;
  float* lse;
  int64_t ld_q, ld_k, ld_v;
  int64_t queries, keys, heads, kv_heads, dim;
  bool causal;
  float scale;
};

// Softmax statistics of a set of scores: their max m and sum of exp(s - m). A set with no scores is
// (-inf, 0) and adds nothing (exp(-inf - -inf) would be NaN).
struct Stats {
  float max = -INFINITY;
  float sum = 0.0f;
};

__device__ Stats merge(Stats a, Stats b) {
  const float m = fmaxf(a.max, b.max);
  if (m == -INFINITY) return a;
  const float la = a.max == -INFINITY ? 0.0f : a.sum * expf(a.max - m);
  const float lb = b.max == -INFINITY ? 0.0f : b.sum * expf(b.max - m);
  return {m, la + lb};
}

// a (shared, F32) . b (global) over dim elements.
template <typename T>
__device__ float dot(const float* a, const T* b, int64_t dim) {
  float sum = 0.0f;
  for (int64_t c = 0; c < dim; ++c) sum += a[c] * to_f32(b[c]);
  return sum;
}

template <typename T>
__global__ void __launch_bounds__(kThreads) decode_attention_kernel(Problem<T> p) {
  __shared__ float q[kMaxHeadDim];
  __shared__ float weight[kThreads];
  __shared__ float warp_max[kWarps], warp_sum[kWarps];
  __shared__ float row_lse;
  const int64_t r = blockIdx.x, h = blockIdx.y;
  const int64_t b = r / p.queries, i = r % p.queries;
  const int64_t g = h / (p.heads / p.kv_heads);
  const int64_t end = p.causal ? p.keys - p.queries + i + 1 : p.keys;  // keys [0, end) are visible
  const int64_t ld_key = p.kv_heads * p.dim;                           // between a sequence's keys
  const T* k = p.k + b * p.ld_k + g * p.dim;
  const T* v = p.v + b * p.ld_v + g * p.dim;
  const T* q_row = p.q + r * p.ld_q + h * p.dim;
  for (int64_t c = threadIdx.x; c < p.dim; c += kThreads) q[c] = to_f32(q_row[c]);
  __syncthreads();

  Stats s;
  for (int64_t j = threadIdx.x; j < end; j += kThreads) {
    const float score = p.scale * dot(q, k + j * ld_key, p.dim);
    s = merge(s, Stats{score, 1.0f});
  }
  for (int offset = 16; offset > 0; offset /= 2) {
    const Stats other{__shfl_xor_sync(0xffffffffu, s.max, offset),
                      __shfl_xor_sync(0xffffffffu, s.sum, offset)};
    s = merge(s, other);
  }
  if (threadIdx.x % 32 == 0) {
    warp_max[threadIdx.x / 32] = s.max;
    warp_sum[threadIdx.x / 32] = s.sum;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    Stats total{warp_max[0], warp_sum[0]};
    for (int w = 1; w < kWarps; ++w) total = merge(total, Stats{warp_max[w], warp_sum[w]});
    row_lse = total.max + logf(total.sum);
  }
  __syncthreads();
  const float lse = row_lse;

  float acc[kColumnsPerThread] = {};
  for (int64_t base = 0; base < end; base += kThreads) {
    const int64_t j = base + threadIdx.x;
    weight[threadIdx.x] = j < end ? expf(p.scale * dot(q, k + j * ld_key, p.dim) - lse) : 0.0f;
    __syncthreads();
    const int64_t chunk = end - base < kThreads ? end - base : kThreads;
    for (int u = 0; u < kColumnsPerThread; ++u) {
      const int64_t c = threadIdx.x + static_cast<int64_t>(u) * kThreads;
      if (c >= p.dim) break;
      for (int64_t jj = 0; jj < chunk; ++jj) acc[u] += weight[jj] * to_f32(v[(base + jj) * ld_key + c]);
    }
    __syncthreads();
  }
  T* out = p.out + (r * p.heads + h) * p.dim;
  for (int u = 0; u < kColumnsPerThread; ++u) {
    const int64_t c = threadIdx.x + static_cast<int64_t>(u) * kThreads;
    if (c < p.dim) out[c] = from_f32<T>(acc[u]);
  }
  if (threadIdx.x == 0 && p.lse != nullptr) p.lse[r * p.heads + h] = lse;
}

// Messages are built without fmt: nvcc cannot evaluate fmt's compile-time format checks.
void check_shape(const char* op, const DecodeAttentionShape& s) {
  if (s.head_dim <= 0 || s.head_dim > kMaxHeadDim)
    throw Error(std::string(op) + ": head_dim must be in [1, " + std::to_string(kMaxHeadDim) + "], got " +
                std::to_string(s.head_dim));
  if (s.heads <= 0 || s.kv_heads <= 0 || s.heads % s.kv_heads != 0)
    throw Error(std::string(op) + ": heads (" + std::to_string(s.heads) +
                ") must be a positive multiple of kv_heads (" + std::to_string(s.kv_heads) + ")");
  if (s.batch <= 0 || s.queries <= 0 || s.keys < s.queries)
    throw Error(std::string(op) + ": " + std::to_string(s.batch) + " sequences of " +
                std::to_string(s.queries) + " queries against " + std::to_string(s.keys) +
                " keys is not a decode step");
  // Blocks are indexed by (query row, head).
  if (s.batch * s.queries > 0x7fffffff || s.heads > 65535)
    throw Error(std::string(op) + ": at most 2^31 - 1 query rows and 65535 heads are supported, got " +
                std::to_string(s.batch * s.queries) + " rows and " + std::to_string(s.heads) + " heads");
}

}  // namespace

void decode_attention_forward(DType act, const DecodeAttentionShape& shape, const DecodeAttentionTensors& t,
                              cudaStream_t stream) {
  const char* op = "decode_attention_forward";
  check_shape(op, shape);
  dispatch_act(act, op, [&](auto tag) {
    using T = decltype(tag);
    Problem<T> p{};
    p.q = static_cast<const T*>(t.q);
    p.k = static_cast<const T*>(t.k);
    p.v = static_cast<const T*>(t.v);
    p.out = static_cast<T*>(t.out);
    p.lse = t.lse;
    p.ld_q = t.ld_q;
    p.ld_k = t.ld_k;
    p.ld_v = t.ld_v;
    p.queries = shape.queries;
    p.keys = shape.keys;
    p.heads = shape.heads;
    p.kv_heads = shape.kv_heads;
    p.dim = shape.head_dim;
    p.causal = shape.causal;
    p.scale = shape.scale;
    const dim3 grid(static_cast<unsigned>(shape.batch * shape.queries), static_cast<unsigned>(shape.heads));
    decode_attention_kernel<T><<<grid, kThreads, 0, stream>>>(p);
    check_launch(op);
  });
}

}  // namespace strand::cuda
