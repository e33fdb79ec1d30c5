// Multi-tensor optimizer arithmetic over a list of parameter tensors: the global gradient norm, the clip
// factor and AdamW, each one call over every tensor (on the GPU a few fused launches).
//
// AdamW with decoupled weight decay (Loshchilov & Hutter), step for step the same as torch.optim.AdamW, with
// g = grad * grad_scale (the clip factor):
//   p  <- p * (1 - lr * weight_decay)
//   m  <- beta1 m + (1 - beta1) g
//   v  <- beta2 v + (1 - beta2) g^2
//   p  <- p - lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)
//
// The global norm is computed in two parts, so that a data-parallel or sharded optimizer can combine the
// partial sums of its ranks between them:
//   grad_sum_of_squares(s, group)    s = sum of grad^2 over the group's tensors (this rank's part)
//   (all-reduce s across the ranks that hold disjoint parts of the gradients)
//   grad_norm(norm, s)               norm = sqrt(s)
//   clip_factor(f, norm, max_norm)   f = max_norm / norm if the norm exceeds it, else 1; NaN if the norm is
//   not
//                                    finite, which makes adamw_step skip the update
//   adamw_step(group, options, t, f)
// Every scalar stays on the group's device, so on CUDA nothing synchronises with the host.
#pragma once

#include "strand/core/tensor.h"

#include <memory>
#include <vector>

namespace strand {

// One parameter as the optimizer sees it. value, grad, exp_avg and exp_avg_sq are contiguous tensors of one
// shape: on the CPU of one float dtype (F32, or F64 for checks), on CUDA F32.
struct AdamWTensors {
  Tensor value;       // master weights, updated in place
  Tensor grad;        // read only
  Tensor exp_avg;     // first moment m, updated in place
  Tensor exp_avg_sq;  // second moment v, updated in place
  Tensor compute;     // optional: a copy of value that kernels read, rewritten from the updated value (CUDA:
                      // F32 or BF16, one dtype for the whole group)
  double weight_decay = 0;  // 0 for parameters excluded from decay (norms, biases)
};

// The tensors of a multi-tensor step, checked once. On CUDA it also holds the kernels' table of tensors and
// chunks (uploaded here, so that a step allocates nothing). The tensors' memory must stay where it is while
// the group lives.
class AdamWGroup {
 public:
  explicit AdamWGroup(std::vector<AdamWTensors> tensors);
  ~AdamWGroup();
  AdamWGroup(const AdamWGroup&) = delete;
  AdamWGroup& operator=(const AdamWGroup&) = delete;

  const std::vector<AdamWTensors>& tensors() const { return tensors_; }
  // The device of every tensor (the CPU for an empty group).
  Device device() const { return device_; }

  struct Plan;  // CUDA: the multi-tensor launch plan

 private:
  friend struct AdamWGroupAccess;  // the entry points (ops/optimizer.cpp)
  std::vector<AdamWTensors> tensors_;
  Device device_;
  std::unique_ptr<Plan> plan_;
};

struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
};

// sum_of_squares [1] F64 (on the group's device) = the sum of grad^2 over every tensor of the group, in F64
// and in a fixed order (deterministic for any thread count; the CPU adds the elements in tensor order).
void grad_sum_of_squares(const Tensor& sum_of_squares, const AdamWGroup& group);

// norm [1] = sqrt(sum_of_squares [1] F64), in F64 and rounded once to norm's dtype (CPU: F32 or F64; CUDA:
// F32).
void grad_norm(const Tensor& norm, const Tensor& sum_of_squares);

// factor [1] = max_norm / norm when max_norm > 0 and norm > max_norm, else 1: the factor that scales the
// gradients to a global norm of at most max_norm. A NaN or infinite norm gives NaN, so that the update that
// reads the factor is skipped instead of writing NaN into every weight. Compared and divided in norm's dtype
// (max_norm rounded to it), then rounded to factor's dtype; both F32 or F64 on the CPU, F32 on CUDA.
void clip_factor(const Tensor& factor, const Tensor& norm, double max_norm);

// One AdamW update (above) of every tensor of the group and then of its compute copy; step counts from 1.
// grad_scale [1] (on the group's device; CPU: F32 or F64, CUDA: F32) multiplies every gradient as it is read
// (the gradients themselves are left as they are); undefined: 1. A non-finite grad_scale skips the update:
// parameters, moments and compute copies stay as they were (the device decides, nothing is read back).
void adamw_step(const AdamWGroup& group, const AdamWOptions& options, int64_t step,
                const Tensor& grad_scale = Tensor());

}  // namespace strand
