// Gradient sum of squares, norm, clipping scale and AdamW over every parameter in a few launches.
//
// The constructor cuts each tensor into chunks of kChunkElements and uploads one table of tensors and one of
// chunks; every launch then has one block per chunk. The norm is reduced in F64 in a fixed order (per-chunk
// partial sums, then one block over the partials), so it is deterministic. AdamW is pointwise and follows
// ops/cpu/optimizer.cpp operation for operation.
#include "strand/ops/cuda/multi_tensor.h"

#include "strand/core/error.h"

#include <cuda_bf16.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>

namespace strand::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kFinalThreads = 1024;
constexpr int kWarp = 32;
constexpr unsigned kFullMask = 0xffffffffu;
// Elements per chunk: large enough that a block streams a while, small enough that the smallest useful
// model still has many blocks. Chunk starts stay 16-byte aligned within a tensor.
constexpr int64_t kChunkElements = int64_t{1} << 16;
// F32 elements per 16-byte access.
constexpr int kVec = 4;

// A tensor as the kernels see it.
struct TensorEntry {
  float* param;
  float* grad;
  float* exp_avg;
  float* exp_avg_sq;
  void* compute;  // null: no compute copy
  int64_t n;
  float weight_decay;
  bool vectorized;  // every pointer allows kVec-element accesses
};

// Elements [begin, min(begin + kChunkElements, n)) of tensors[tensor].
struct Chunk {
  int64_t begin;
  int32_t tensor;
};

__device__ __forceinline__ int64_t chunk_size(const TensorEntry& tensor, const Chunk& chunk) {
  const int64_t rest = tensor.n - chunk.begin;
  return rest < kChunkElements ? rest : kChunkElements;
}

// The per-step scalars AdamW needs, derived on the host in the CPU reference's precision.
struct AdamWScalars {
  float lr;
  float beta1;
  float beta2;
  float eps;
  float step_size;   // lr / (1 - beta1^t)
  float bias2_root;  // sqrt(1 - beta2^t)
  const float* grad_scale;
};

// Sum of v over the block (blockDim.x = kThreadsPerBlock) in a fixed order; the result is valid in thread 0.
template <int kThreadsPerBlock>
__device__ double block_sum(double v) {
  __shared__ double warp_sums[kThreadsPerBlock / kWarp];
  for (int offset = kWarp / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(kFullMask, v, offset);
  if (threadIdx.x % kWarp == 0) warp_sums[threadIdx.x / kWarp] = v;
  __syncthreads();
  double total = 0;
  if (threadIdx.x == 0) {
    for (double s : warp_sums) total += s;
  }
  return total;
}

__global__ void __launch_bounds__(kThreads)
    chunk_sum_of_squares_kernel(double* partial_sums, const TensorEntry* tensors, const Chunk* chunks) {
  const Chunk chunk = chunks[blockIdx.x];
  const TensorEntry& tensor = tensors[chunk.tensor];
  const int64_t size = chunk_size(tensor, chunk);
  const float* grad = tensor.grad + chunk.begin;
  double sum = 0;
  const int64_t vectors = tensor.vectorized ? size / kVec : 0;
  for (int64_t i = threadIdx.x; i < vectors; i += kThreads) {
    const float4 g = reinterpret_cast<const float4*>(grad)[i];
    sum += static_cast<double>(g.x) * g.x + static_cast<double>(g.y) * g.y + static_cast<double>(g.z) * g.z +
           static_cast<double>(g.w) * g.w;
  }
  for (int64_t i = vectors * kVec + threadIdx.x; i < size; i += kThreads) {
    sum += static_cast<double>(grad[i]) * grad[i];
  }
  sum = block_sum<kThreads>(sum);
  if (threadIdx.x == 0) partial_sums[blockIdx.x] = sum;
}

__global__ void __launch_bounds__(kFinalThreads)
    sum_partials_kernel(double* sum_out, const double* partial_sums, int64_t num_chunks) {
  double sum = 0;
  for (int64_t i = threadIdx.x; i < num_chunks; i += kFinalThreads) sum += partial_sums[i];
  sum = block_sum<kFinalThreads>(sum);
  if (threadIdx.x == 0) *sum_out = sum;
}

__global__ void grad_norm_kernel(float* norm_out, const double* sum_of_squares) {
  *norm_out = static_cast<float>(std::sqrt(*sum_of_squares));
}

__global__ void clip_factor_kernel(float* factor_out, const float* norm, float max_norm) {
  const float n = *norm;
  *factor_out = !isfinite(n)                      ? __int_as_float(0x7fc00000)
                : max_norm > 0.0f && n > max_norm ? max_norm / n
                                                  : 1.0f;
}

// The constants of one tensor's update in one step.
struct AdamWCoefficients {
  float decay;  // 1 - lr * weight_decay
  float one_minus_beta1;
  float beta2;
  float one_minus_beta2;
  float step_size;
  float bias2_root;
  float eps;
  float grad_scale;
};

// torch.optim.AdamW's order of operations, as in ops/cpu/optimizer.cpp.
__device__ __forceinline__ void adamw_update(float& p, float& m, float& v, float grad,
                                             const AdamWCoefficients& c) {
  const float g = grad * c.grad_scale;
  p *= c.decay;
  m += c.one_minus_beta1 * (g - m);
  v = c.beta2 * v + c.one_minus_beta2 * g * g;
  p -= c.step_size * m / (sqrtf(v) / c.bias2_root + c.eps);
}

template <typename C, int N>
__device__ __forceinline__ void store_compute(void* compute, int64_t i, const float (&p)[N]) {
  struct alignas(sizeof(C) * N) Pack {
    C e[N];
  } pack;
#pragma unroll
  for (int k = 0; k < N; ++k) {
    if constexpr (std::is_same_v<C, float>) {
      pack.e[k] = p[k];
    } else {
      pack.e[k] = __float2bfloat16_rn(p[k]);
    }
  }
  *reinterpret_cast<Pack*>(static_cast<C*>(compute) + i) = pack;
}

// C: the compute copy's element type.
template <typename C>
__global__ void __launch_bounds__(kThreads)
    adamw_kernel(const TensorEntry* tensors, const Chunk* chunks, AdamWScalars s) {
  const Chunk chunk = chunks[blockIdx.x];
  const TensorEntry& tensor = tensors[chunk.tensor];
  AdamWCoefficients c;
  // In double, as the reference computes it, then rounded once.
  c.decay = static_cast<float>(1.0 - static_cast<double>(s.lr) * tensor.weight_decay);
  c.one_minus_beta1 = 1.0f - s.beta1;
  c.beta2 = s.beta2;
  c.one_minus_beta2 = 1.0f - s.beta2;
  c.step_size = s.step_size;
  c.bias2_root = s.bias2_root;
  c.eps = s.eps;
  c.grad_scale = s.grad_scale ? *s.grad_scale : 1.0f;
  if (!isfinite(c.grad_scale)) return;  // a skipped step: nothing changes

  const int64_t size = chunk_size(tensor, chunk);
  float* param = tensor.param + chunk.begin;
  const float* grad = tensor.grad + chunk.begin;
  float* exp_avg = tensor.exp_avg + chunk.begin;
  float* exp_avg_sq = tensor.exp_avg_sq + chunk.begin;
  void* compute = tensor.compute ? static_cast<C*>(tensor.compute) + chunk.begin : nullptr;

  const int64_t vectors = tensor.vectorized ? size / kVec : 0;
  for (int64_t i = threadIdx.x; i < vectors; i += kThreads) {
    float4 p = reinterpret_cast<float4*>(param)[i];
    float4 m = reinterpret_cast<float4*>(exp_avg)[i];
    float4 v = reinterpret_cast<float4*>(exp_avg_sq)[i];
    const float4 g = reinterpret_cast<const float4*>(grad)[i];
    adamw_update(p.x, m.x, v.x, g.x, c);
    adamw_update(p.y, m.y, v.y, g.y, c);
    adamw_update(p.z, m.z, v.z, g.z, c);
    adamw_update(p.w, m.w, v.w, g.w, c);
    reinterpret_cast<float4*>(param)[i] = p;
    reinterpret_cast<float4*>(exp_avg)[i] = m;
    reinterpret_cast<float4*>(exp_avg_sq)[i] = v;
    if (compute) store_compute<C, kVec>(compute, i * kVec, {p.x, p.y, p.z, p.w});
  }
  for (int64_t i = vectors * kVec + threadIdx.x; i < size; i += kThreads) {
    float p = param[i], m = exp_avg[i], v = exp_avg_sq[i];
    adamw_update(p, m, v, grad[i], c);
    param[i] = p;
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    if (compute) store_compute<C, 1>(compute, i, {p});
  }
}

bool aligned(const void* p, size_t bytes) {
  return reinterpret_cast<uintptr_t>(p) % bytes == 0;
}

// Frees a device buffer from a destructor, where a failure has nowhere to go.
void free_quietly(void* p) {
  if (p) static_cast<void>(cudaFree(p));
}

}  // namespace

struct MultiTensorPlan::Impl {
  DType compute_dtype = DType::F32;
  int64_t num_chunks = 0;
  TensorEntry* tensors = nullptr;  // device
  Chunk* chunks = nullptr;         // device
  double* partial_sums = nullptr;  // device, one per chunk

  Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl() {
    free_quietly(tensors);
    free_quietly(chunks);
    free_quietly(partial_sums);
  }
};

MultiTensorPlan::MultiTensorPlan(const std::vector<OptimizerTensor>& tensors, DType compute_dtype)
    : impl_(new Impl) {
  try {
    if (compute_dtype != DType::F32 && compute_dtype != DType::BF16)
      throw Error("MultiTensorPlan: compute copies must be F32 or BF16, got " +
                  std::string(dtype_name(compute_dtype)));
    impl_->compute_dtype = compute_dtype;
    const size_t compute_vector_bytes = dtype_size(compute_dtype) * kVec;
    std::vector<TensorEntry> entries;
    std::vector<Chunk> chunks;
    entries.reserve(tensors.size());
    for (const OptimizerTensor& t : tensors) {
      const bool vectorized = aligned(t.param, 16) && aligned(t.grad, 16) && aligned(t.exp_avg, 16) &&
                              aligned(t.exp_avg_sq, 16) && aligned(t.compute, compute_vector_bytes);
      const auto index = static_cast<int32_t>(entries.size());
      entries.push_back(
          {t.param, t.grad, t.exp_avg, t.exp_avg_sq, t.compute, t.n, t.weight_decay, vectorized});
      for (int64_t begin = 0; begin < t.n; begin += kChunkElements) chunks.push_back({begin, index});
    }
    impl_->num_chunks = static_cast<int64_t>(chunks.size());
    if (chunks.empty()) return;
    check_cuda(cudaMalloc(&impl_->tensors, entries.size() * sizeof(TensorEntry)), "cudaMalloc");
    check_cuda(cudaMalloc(&impl_->chunks, chunks.size() * sizeof(Chunk)), "cudaMalloc");
    check_cuda(cudaMalloc(&impl_->partial_sums, chunks.size() * sizeof(double)), "cudaMalloc");
    check_cuda(cudaMemcpy(impl_->tensors, entries.data(), entries.size() * sizeof(TensorEntry),
                          cudaMemcpyHostToDevice),
               "cudaMemcpy");
    check_cuda(
        cudaMemcpy(impl_->chunks, chunks.data(), chunks.size() * sizeof(Chunk), cudaMemcpyHostToDevice),
        "cudaMemcpy");
  } catch (...) {
    delete impl_;
    throw;
  }
}

MultiTensorPlan::~MultiTensorPlan() {
  delete impl_;
}

void MultiTensorPlan::grad_sum_of_squares(double* sum_out, cudaStream_t stream) const {
  const int64_t n = impl_->num_chunks;
  if (n > 0) {
    chunk_sum_of_squares_kernel<<<static_cast<unsigned>(n), kThreads, 0, stream>>>(
        impl_->partial_sums, impl_->tensors, impl_->chunks);
    check_launch("grad_sum_of_squares");
  }
  sum_partials_kernel<<<1, kFinalThreads, 0, stream>>>(sum_out, impl_->partial_sums, n);
  check_launch("grad_sum_of_squares");
}

void MultiTensorPlan::adamw(float lr, float beta1, float beta2, float eps, float bias_correction1,
                            float bias_correction2, const float* grad_scale, cudaStream_t stream) const {
  const int64_t n = impl_->num_chunks;
  if (n == 0) return;
  const AdamWScalars s{lr,
                       beta1,
                       beta2,
                       eps,
                       static_cast<float>(static_cast<double>(lr) / bias_correction1),
                       static_cast<float>(std::sqrt(static_cast<double>(bias_correction2))),
                       grad_scale};
  if (impl_->compute_dtype == DType::BF16) {
    adamw_kernel<__nv_bfloat16>
        <<<static_cast<unsigned>(n), kThreads, 0, stream>>>(impl_->tensors, impl_->chunks, s);
  } else {
    adamw_kernel<float><<<static_cast<unsigned>(n), kThreads, 0, stream>>>(impl_->tensors, impl_->chunks, s);
  }
  check_launch("adamw");
}

void grad_norm(float* norm_out, const double* sum_of_squares, cudaStream_t stream) {
  grad_norm_kernel<<<1, 1, 0, stream>>>(norm_out, sum_of_squares);
  check_launch("grad_norm");
}

void clip_factor(float* factor_out, const float* norm, float max_norm, cudaStream_t stream) {
  clip_factor_kernel<<<1, 1, 0, stream>>>(factor_out, norm, max_norm);
  check_launch("clip_factor");
}

}  // namespace strand::cuda
