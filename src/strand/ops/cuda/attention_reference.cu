// Reference attention kernels: F32 arithmetic over F32 or BF16 storage, written to be obviously correct
// rather than fast (see ops/attention.h for the semantics).
//
// Each output row is computed by one thread block (by one thread for delta), so no two blocks write the same
// memory and nothing is accumulated with atomics: results are deterministic. Within a block the keys (or
// queries) are walked in chunks of kThreads: each thread computes the score of one chunk member into shared
// memory, then the threads, each owning a few head-dim columns, accumulate the chunk in index order.
//
//   forward   block (query token t, head h): pass 1 finds the row's max and sum of exponentials (per-thread
//             online, then a fixed-order tree merge), giving lse; pass 2 accumulates out = sum_j p_j v_j with
//             p_j = exp(s_j - lse).
//   backward  delta_i = dout_i . out_i per row; then block (t, h) computes dq_t = scale sum_j ds_tj k_j, and
//             block (key token j, kv head g) computes dk_j = scale sum ds_ij q_i and dv_j = sum p_ij dout_i
//             over the queries i that see j and the query heads of group g in order, where
//             p_ij = exp(s_ij - lse_i) and ds_ij = p_ij (dout_i . v_j - delta_i).
#include "strand/core/error.h"
#include "strand/cuda/runtime.h"
#include "strand/ops/cuda/attention.h"
#include "strand/ops/cuda/packed_sequences.cuh"

#include <string>

namespace strand::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int kMaxHeadDim = 256;
constexpr int kColumnsPerThread = kMaxHeadDim / kThreads;

__device__ float to_float(float x) {
  return x;
}
__device__ float to_float(uint16_t x) {
  return bf16_to_f32(x);
}
template <typename T>
__device__ T from_float(float x);
template <>
__device__ float from_float<float>(float x) {
  return x;
}
template <>
__device__ uint16_t from_float<uint16_t>(float x) {
  return f32_to_bf16(x);
}

// Row-strided [tokens, heads, dim] view: token t's heads start at ptr + t * ld.
template <typename T>
struct Rows {
  T* ptr;
  int64_t ld;
  __device__ T* row(int64_t token, int64_t head, int64_t dim) const { return ptr + token * ld + head * dim; }
};

template <typename T>
struct Problem {
  Rows<const T> q, k, v, dout;
  Rows<T> out, dq, dk, dv;  // out is written by the forward and read by the backward
  float* lse;               // [tokens, heads]
  const float* delta;       // [tokens, heads], backward only
  const int32_t* cu_seqlens;
  int64_t num_seqs, heads, kv_heads, dim;
  bool causal;
  float scale;
  __device__ int64_t group() const { return heads / kv_heads; }
};

// a (shared, F32) . b (global) over dim elements.
template <typename T>
__device__ float dot(const float* a, const T* b, int64_t dim) {
  float sum = 0.0f;
  for (int64_t c = 0; c < dim; ++c) sum += a[c] * to_float(b[c]);
  return sum;
}

// dst[c] = src[c] as F32, for c < dim, by the whole block.
template <typename T>
__device__ void load_row(float* dst, const T* src, int64_t dim) {
  for (int64_t c = threadIdx.x; c < dim; c += kThreads) dst[c] = to_float(src[c]);
}

// Merges per-thread (max, sum of exp(s - max)) pairs into thread 0's slot, in a fixed tree order.
__device__ void merge_softmax_stats(float* max, float* sum) {
  for (int width = kThreads / 2; width > 0; width /= 2) {
    __syncthreads();
    if (threadIdx.x < width) {
      const float m1 = max[threadIdx.x], m2 = max[threadIdx.x + width];
      const float m = fmaxf(m1, m2);
      // A thread that saw no keys holds (-inf, 0) and must contribute nothing (exp(-inf - -inf) is NaN).
      const float l1 = m1 == -INFINITY ? 0.0f : sum[threadIdx.x] * expf(m1 - m);
      const float l2 = m2 == -INFINITY ? 0.0f : sum[threadIdx.x + width] * expf(m2 - m);
      max[threadIdx.x] = m;
      sum[threadIdx.x] = l1 + l2;
    }
  }
  __syncthreads();
}

template <typename T>
__global__ void __launch_bounds__(kThreads) forward_kernel(Problem<T> p) {
  __shared__ float q[kMaxHeadDim];
  __shared__ float weight[kThreads];
  __shared__ float row_max[kThreads], row_sum[kThreads];
  const int64_t t = blockIdx.x, h = blockIdx.y, g = h / p.group();
  const int64_t seq = sequence_of(p.cu_seqlens, p.num_seqs, t);
  const int64_t first = p.cu_seqlens[seq];
  const int64_t end = p.causal ? t + 1 : p.cu_seqlens[seq + 1];  // keys [first, end) are visible
  load_row(q, p.q.row(t, h, p.dim), p.dim);
  __syncthreads();

  float m = -INFINITY, l = 0.0f;
  for (int64_t j = first + threadIdx.x; j < end; j += kThreads) {
    const float s = p.scale * dot(q, p.k.row(j, g, p.dim), p.dim);
    if (s > m) {
      l = l * expf(m - s) + 1.0f;
      m = s;
    } else {
      l += expf(s - m);
    }
  }
  row_max[threadIdx.x] = m;
  row_sum[threadIdx.x] = l;
  merge_softmax_stats(row_max, row_sum);
  const float lse = row_max[0] + logf(row_sum[0]);

  float acc[kColumnsPerThread] = {};
  for (int64_t base = first; base < end; base += kThreads) {
    const int64_t j = base + threadIdx.x;
    weight[threadIdx.x] = j < end ? expf(p.scale * dot(q, p.k.row(j, g, p.dim), p.dim) - lse) : 0.0f;
    __syncthreads();
    const int64_t chunk = end - base < kThreads ? end - base : kThreads;
    for (int i = 0; i < kColumnsPerThread; ++i) {
      const int64_t c = threadIdx.x + static_cast<int64_t>(i) * kThreads;
      if (c >= p.dim) break;
      for (int64_t jj = 0; jj < chunk; ++jj) acc[i] += weight[jj] * to_float(p.v.row(base + jj, g, p.dim)[c]);
    }
    __syncthreads();
  }
  T* out = p.out.row(t, h, p.dim);
  for (int i = 0; i < kColumnsPerThread; ++i) {
    const int64_t c = threadIdx.x + static_cast<int64_t>(i) * kThreads;
    if (c < p.dim) out[c] = from_float<T>(acc[i]);
  }
  if (threadIdx.x == 0) p.lse[t * p.heads + h] = lse;
}

// delta[t, h] = dout_t,h . out_t,h; one thread per row.
template <typename T>
__global__ void delta_kernel(Problem<T> p, float* delta, int64_t tokens) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= tokens * p.heads) return;
  const int64_t t = i / p.heads, h = i % p.heads;
  const T* dout = p.dout.row(t, h, p.dim);
  const T* out = p.out.row(t, h, p.dim);
  float sum = 0.0f;
  for (int64_t c = 0; c < p.dim; ++c) sum += to_float(dout[c]) * to_float(out[c]);
  delta[i] = sum;
}

template <typename T>
__global__ void __launch_bounds__(kThreads) dq_kernel(Problem<T> p) {
  __shared__ float q[kMaxHeadDim], dout[kMaxHeadDim];
  __shared__ float ds[kThreads];
  const int64_t t = blockIdx.x, h = blockIdx.y, g = h / p.group();
  const int64_t seq = sequence_of(p.cu_seqlens, p.num_seqs, t);
  const int64_t first = p.cu_seqlens[seq];
  const int64_t end = p.causal ? t + 1 : p.cu_seqlens[seq + 1];
  load_row(q, p.q.row(t, h, p.dim), p.dim);
  load_row(dout, p.dout.row(t, h, p.dim), p.dim);
  __syncthreads();
  const float lse = p.lse[t * p.heads + h], delta = p.delta[t * p.heads + h];

  float acc[kColumnsPerThread] = {};
  for (int64_t base = first; base < end; base += kThreads) {
    const int64_t j = base + threadIdx.x;
    float d = 0.0f;
    if (j < end) {
      const float prob = expf(p.scale * dot(q, p.k.row(j, g, p.dim), p.dim) - lse);
      d = prob * (dot(dout, p.v.row(j, g, p.dim), p.dim) - delta);
    }
    ds[threadIdx.x] = d;
    __syncthreads();
    const int64_t chunk = end - base < kThreads ? end - base : kThreads;
    for (int i = 0; i < kColumnsPerThread; ++i) {
      const int64_t c = threadIdx.x + static_cast<int64_t>(i) * kThreads;
      if (c >= p.dim) break;
      for (int64_t jj = 0; jj < chunk; ++jj) acc[i] += ds[jj] * to_float(p.k.row(base + jj, g, p.dim)[c]);
    }
    __syncthreads();
  }
  T* dq = p.dq.row(t, h, p.dim);
  for (int i = 0; i < kColumnsPerThread; ++i) {
    const int64_t c = threadIdx.x + static_cast<int64_t>(i) * kThreads;
    if (c < p.dim) dq[c] = from_float<T>(p.scale * acc[i]);
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads) dkv_kernel(Problem<T> p) {
  __shared__ float k[kMaxHeadDim], v[kMaxHeadDim];
  __shared__ float prob[kThreads], ds[kThreads];
  const int64_t j = blockIdx.x, g = blockIdx.y;
  const int64_t seq = sequence_of(p.cu_seqlens, p.num_seqs, j);
  const int64_t first = p.causal ? j : p.cu_seqlens[seq];  // queries [first, end) see key j
  const int64_t end = p.cu_seqlens[seq + 1];
  load_row(k, p.k.row(j, g, p.dim), p.dim);
  load_row(v, p.v.row(j, g, p.dim), p.dim);
  __syncthreads();

  float dk_acc[kColumnsPerThread] = {}, dv_acc[kColumnsPerThread] = {};
  for (int64_t h = g * p.group(); h < (g + 1) * p.group(); ++h) {
    for (int64_t base = first; base < end; base += kThreads) {
      const int64_t i = base + threadIdx.x;
      float pr = 0.0f, d = 0.0f;
      if (i < end) {
        const int64_t row = i * p.heads + h;
        pr = expf(p.scale * dot(k, p.q.row(i, h, p.dim), p.dim) - p.lse[row]);
        d = pr * (dot(v, p.dout.row(i, h, p.dim), p.dim) - p.delta[row]);
      }
      prob[threadIdx.x] = pr;
      ds[threadIdx.x] = d;
      __syncthreads();
      const int64_t chunk = end - base < kThreads ? end - base : kThreads;
      for (int c_i = 0; c_i < kColumnsPerThread; ++c_i) {
        const int64_t c = threadIdx.x + static_cast<int64_t>(c_i) * kThreads;
        if (c >= p.dim) break;
        for (int64_t ii = 0; ii < chunk; ++ii) {
          dk_acc[c_i] += ds[ii] * to_float(p.q.row(base + ii, h, p.dim)[c]);
          dv_acc[c_i] += prob[ii] * to_float(p.dout.row(base + ii, h, p.dim)[c]);
        }
      }
      __syncthreads();
    }
  }
  for (int c_i = 0; c_i < kColumnsPerThread; ++c_i) {
    const int64_t c = threadIdx.x + static_cast<int64_t>(c_i) * kThreads;
    if (c >= p.dim) break;
    if (p.dk.ptr != nullptr) p.dk.row(j, g, p.dim)[c] = from_float<T>(p.scale * dk_acc[c_i]);
    if (p.dv.ptr != nullptr) p.dv.row(j, g, p.dim)[c] = from_float<T>(dv_acc[c_i]);
  }
}

// Messages are built without fmt: nvcc cannot evaluate fmt's compile-time format checks.
void check_shape(const char* op, const AttentionShape& shape) {
  if (shape.head_dim <= 0 || shape.head_dim > kMaxHeadDim)
    throw Error(std::string(op) + ": head_dim must be in [1, " + std::to_string(kMaxHeadDim) + "], got " +
                std::to_string(shape.head_dim));
  if (shape.heads <= 0 || shape.kv_heads <= 0 || shape.heads % shape.kv_heads != 0)
    throw Error(std::string(op) + ": heads (" + std::to_string(shape.heads) +
                ") must be a positive multiple of kv_heads (" + std::to_string(shape.kv_heads) + ")");
  // Blocks are indexed by (token, head).
  if (shape.tokens > 0x7fffffff || shape.heads > 65535)
    throw Error(std::string(op) + ": at most 2^31 - 1 tokens and 65535 heads are supported, got " +
                std::to_string(shape.tokens) + " tokens and " + std::to_string(shape.heads) + " heads");
}

template <typename T>
Problem<T> make_problem(const AttentionShape& shape, const AttentionTensors& t) {
  Problem<T> p{};
  p.q = {static_cast<const T*>(t.q), t.ld_q};
  p.k = {static_cast<const T*>(t.k), t.ld_k};
  p.v = {static_cast<const T*>(t.v), t.ld_v};
  p.out = {static_cast<T*>(t.out), t.ld_out};
  p.lse = t.lse;
  p.cu_seqlens = t.cu_seqlens;
  p.num_seqs = shape.num_seqs;
  p.heads = shape.heads;
  p.kv_heads = shape.kv_heads;
  p.dim = shape.head_dim;
  p.causal = shape.causal;
  p.scale = shape.scale;
  return p;
}

template <typename T>
void launch_forward(const AttentionShape& shape, const AttentionTensors& t, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(shape.tokens), static_cast<unsigned>(shape.heads));
  forward_kernel<T><<<grid, kThreads, 0, stream>>>(make_problem<T>(shape, t));
  check_launch("reference_attention_forward");
}

template <typename T>
void launch_backward(const AttentionShape& shape, const AttentionTensors& t, const AttentionGrads& grads,
                     cudaStream_t stream) {
  Problem<T> p = make_problem<T>(shape, t);
  p.dout = {static_cast<const T*>(grads.dout), grads.ld_dout};
  p.dq = {static_cast<T*>(grads.dq), grads.ld_dq};
  p.dk = {static_cast<T*>(grads.dk), grads.ld_dk};
  p.dv = {static_cast<T*>(grads.dv), grads.ld_dv};
  const int64_t rows = shape.tokens * shape.heads;
  auto* delta = static_cast<float*>(scratch(static_cast<size_t>(rows) * sizeof(float)));
  p.delta = delta;
  delta_kernel<T><<<static_cast<unsigned>((rows + 255) / 256), 256, 0, stream>>>(p, delta, shape.tokens);
  check_launch("reference_attention_backward (delta)");
  if (p.dq.ptr != nullptr) {
    const dim3 grid(static_cast<unsigned>(shape.tokens), static_cast<unsigned>(shape.heads));
    dq_kernel<T><<<grid, kThreads, 0, stream>>>(p);
    check_launch("reference_attention_backward (dq)");
  }
  if (p.dk.ptr != nullptr || p.dv.ptr != nullptr) {
    const dim3 grid(static_cast<unsigned>(shape.tokens), static_cast<unsigned>(shape.kv_heads));
    dkv_kernel<T><<<grid, kThreads, 0, stream>>>(p);
    check_launch("reference_attention_backward (dk, dv)");
  }
}

[[noreturn]] void unsupported_dtype(const char* op, DType act) {
  throw Error(std::string(op) + ": activations must be F32 or BF16, got " + std::string(dtype_name(act)));
}

}  // namespace

void reference_attention_forward(DType act, const AttentionShape& shape, const AttentionTensors& t,
                                 cudaStream_t stream) {
  const char* op = "reference_attention_forward";
  check_shape(op, shape);
  if (shape.tokens == 0) return;
  switch (act) {
    case DType::F32:
      return launch_forward<float>(shape, t, stream);
    case DType::BF16:
      return launch_forward<uint16_t>(shape, t, stream);
    default:
      unsupported_dtype(op, act);
  }
}

void reference_attention_backward(DType act, const AttentionShape& shape, const AttentionTensors& t,
                                  const AttentionGrads& g, cudaStream_t stream) {
  const char* op = "reference_attention_backward";
  check_shape(op, shape);
  if (shape.tokens == 0) return;
  switch (act) {
    case DType::F32:
      return launch_backward<float>(shape, t, g, stream);
    case DType::BF16:
      return launch_backward<uint16_t>(shape, t, g, stream);
    default:
      unsupported_dtype(op, act);
  }
}

}  // namespace strand::cuda
