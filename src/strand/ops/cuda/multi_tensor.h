// Whole-model optimizer arithmetic on the GPU in a few launches: the global gradient norm, clipping and AdamW
// over every parameter at once (a "multi-tensor" apply), without a host round trip per tensor. The CUDA side
// of ops/optimizer.h, which states the arithmetic.
#pragma once

#include "strand/ops/cuda/launch.h"

#include <vector>

namespace strand::cuda {

// One parameter as the optimizer sees it. All pointers are device pointers to n contiguous elements.
struct OptimizerTensor {
  float* param = nullptr;       // fp32 master weights
  float* grad = nullptr;        // fp32 gradient
  float* exp_avg = nullptr;     // AdamW first moment
  float* exp_avg_sq = nullptr;  // AdamW second moment
  void* compute = nullptr;      // the compute copy of param to refresh (dtype compute_dtype), or null
  int64_t n = 0;
  float weight_decay = 0;
};

// The parameter table uploaded once; launches then take only per-step scalars.
class MultiTensorPlan {
 public:
  MultiTensorPlan(const std::vector<OptimizerTensor>& tensors, DType compute_dtype);
  ~MultiTensorPlan();
  MultiTensorPlan(const MultiTensorPlan&) = delete;
  MultiTensorPlan& operator=(const MultiTensorPlan&) = delete;

  // sum_out[0] (F64) = sum of grad^2 over every tensor, reduced in F64 in a fixed order (deterministic).
  void grad_sum_of_squares(double* sum_out, cudaStream_t stream) const;

  // One AdamW step (ops/optimizer.h) of every tensor with gradients multiplied by grad_scale[0] (device;
  // null: 1), then compute = param rounded to compute_dtype. bias_correction1/2 = 1 - beta^step, computed on
  // the host.
  void adamw(float lr, float beta1, float beta2, float eps, float bias_correction1, float bias_correction2,
             const float* grad_scale, cudaStream_t stream) const;

 private:
  struct Impl;
  Impl* impl_;
};

// norm_out[0] (F32) = sqrt(sum_of_squares[0]), rounded once from F64.
void grad_norm(float* norm_out, const double* sum_of_squares, cudaStream_t stream);
// factor_out[0] (F32) = max_norm / norm[0] when max_norm > 0 and norm[0] > max_norm, else 1.
void clip_factor(float* factor_out, const float* norm, float max_norm, cudaStream_t stream);

}  // namespace strand::cuda
