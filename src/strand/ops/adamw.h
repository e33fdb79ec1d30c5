// AdamW with decoupled weight decay (Loshchilov & Hutter), step for step the same as torch.optim.AdamW:
//   p  <- p * (1 - lr * weight_decay)
//   m  <- beta1 m + (1 - beta1) g
//   v  <- beta2 v + (1 - beta2) g^2
//   p  <- p - lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)
#pragma once

#include "strand/core/tensor.h"

namespace strand {

struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;  // 0 for parameters excluded from decay (norms, biases)
};

// One update of param with grad, moments m and v (all the same shape and float dtype); step counts from 1.
void adamw_step(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v,
                const AdamWOptions& options, int64_t step);

}  // namespace strand
