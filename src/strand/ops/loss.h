// Softmax cross-entropy over a vocabulary, with ignored labels and per-token weights.
//
// The op returns sums, not a mean, so the caller picks the normaliser: one micro-batch's weight sum, or the
// global one across gradient-accumulation steps and ranks. The usual mean loss is loss_sum / weight_sum, and
// its gradient comes from cross_entropy_backward with scale = 1 / weight_sum.
#pragma once

#include "strand/core/tensor.h"
#include "strand/ops/packed.h"

namespace strand {

struct LossSums {
  double loss_sum = 0;    // sum over counted tokens of w_t * (-log softmax(logits_t)[label_t])
  double weight_sum = 0;  // sum of w_t over counted tokens
  int64_t tokens = 0;     // counted tokens (label != ignore_index and w_t != 0)
};

// logits [T, V]; labels [T] I32 in [0, V) or ignore_index; weights [T] optional (1 when undefined).
// Writes losses [T] (unweighted per-token loss, 0 where ignored) and lse [T] (log-sum-exp, saved for
// backward).
LossSums cross_entropy_forward(const Tensor& losses, const Tensor& lse, const Tensor& logits,
                               const Tensor& labels, const Tensor& weights,
                               int32_t ignore_index = kIgnoreIndex);

// The same, adding the sums to sums [3] F64 (loss_sum, weight_sum, tokens) on the logits' device instead of
// returning them, so a GPU step needs no synchronisation.
void cross_entropy_forward(const Tensor& losses, const Tensor& lse, const Tensor& sums, const Tensor& logits,
                           const Tensor& labels, const Tensor& weights, int32_t ignore_index = kIgnoreIndex);

// dlogits [T, V] (assigned) = scale * w_t * (softmax(logits_t) - onehot(label_t)); zero rows where ignored.
void cross_entropy_backward(const Tensor& dlogits, const Tensor& logits, const Tensor& labels,
                            const Tensor& weights, const Tensor& lse, double scale,
                            int32_t ignore_index = kIgnoreIndex);

}  // namespace strand
