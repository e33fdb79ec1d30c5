// Internal: the CPU reference implementations behind the ops' entry points (ops/*.cpp), which have already
// checked shapes, dtypes and devices. Semantics are those of the public headers (ops/*.h).
#pragma once

#include "strand/ops/attention.h"
#include "strand/ops/grad_write.h"
#include "strand/ops/loss.h"
#include "strand/ops/optimizer.h"

#include <vector>

namespace strand::cpu {

// y = x w^T + b, plus y's previous contents if accumulate.
void linear_forward(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor& b, bool accumulate);
// REQUIRES: x has rows (the entry point settles the empty case).
void linear_backward(const Tensor& dx, const Tensor& dw, const Tensor& db, const Tensor& dy, const Tensor& x,
                     const Tensor& w, GradWrite dw_write, GradWrite db_write);

void rmsnorm_forward(const Tensor& y, const Tensor& rstd, const Tensor& x, const Tensor& w, double eps);
// The norms' dw and db are added to when `accumulate`, else assigned.
void rmsnorm_backward(const Tensor& dx, const Tensor& dw, bool accumulate_dw, const Tensor& dy,
                      const Tensor& x, const Tensor& w, const Tensor& rstd);
void layernorm_forward(const Tensor& y, const Tensor& mean, const Tensor& rstd, const Tensor& x,
                       const Tensor& w, const Tensor& b, double eps);
void layernorm_backward(const Tensor& dx, const Tensor& dw, const Tensor& db, const bool (&accumulate)[2],
                        const Tensor& dy, const Tensor& x, const Tensor& w, const Tensor& mean,
                        const Tensor& rstd);

// Checks the contents of cu_seqlens.
void token_dropout_scales(const Tensor& scales, const Tensor& tokens, const Tensor& cu_seqlens,
                          int32_t mask_id, int32_t pad_id, double mask_ratio_train);
void scale_rows(const Tensor& y, const Tensor& x, const Tensor& scales);

// Rotates by sign * angle (+1 forward, -1 backward); checks that positions are non-negative. ld_out, ld_x:
// the row strides of out and x.
void rope_apply(const Tensor& out, int64_t ld_out, const Tensor& x, int64_t ld_x, const Tensor& positions,
                const std::vector<double>& inv_freq, double sign);

// Both check the contents of cu_seqlens.
void attention_forward(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k,
                       const Tensor& v, const Tensor& cu_seqlens, const AttentionOptions& options);
void attention_backward(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& dout,
                        const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                        const Tensor& lse, const Tensor& cu_seqlens, const AttentionOptions& options);

// k and v rows contiguous per sequence (any stride between sequences), q row-strided.
void decode_attention_forward(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k,
                              const Tensor& v, const AttentionOptions& options);

// [T, F] operands whose rows lie ld_* elements apart.
void swiglu_forward(const Tensor& out, int64_t ld_out, const Tensor& gate, int64_t ld_gate, const Tensor& up,
                    int64_t ld_up);
void swiglu_backward(const Tensor& dgate, int64_t ld_dgate, const Tensor& dup, int64_t ld_dup,
                     const Tensor& dout, int64_t ld_dout, const Tensor& gate, int64_t ld_gate,
                     const Tensor& up, int64_t ld_up);
void gelu_forward(const Tensor& out, const Tensor& x);
void gelu_backward(const Tensor& dx, const Tensor& dout, const Tensor& x);

// Both check that every token lies in the table.
void embedding_forward(const Tensor& y, const Tensor& tokens, const Tensor& table);
void embedding_backward(const Tensor& dtable, const Tensor& dy, const Tensor& tokens, int64_t padding_idx);

// Both check that every label is in the vocabulary or ignored.
LossSums cross_entropy_forward(const Tensor& losses, const Tensor& lse, const Tensor& logits,
                               const Tensor& labels, const Tensor& weights, int32_t ignore_index);
void cross_entropy_backward(const Tensor& dlogits, const Tensor& logits, const Tensor& labels,
                            const Tensor& weights, const Tensor& lse, double scale, int32_t ignore_index);

// The sum in tensor order, each tensor's elements in order (the same for any thread count).
double grad_sum_of_squares(const std::vector<AdamWTensors>& tensors);
void grad_norm(const Tensor& norm, const Tensor& sum_of_squares);
void clip_factor(const Tensor& factor, const Tensor& norm, double max_norm);
// Leaves the compute copies to the entry point.
void adamw_step(const std::vector<AdamWTensors>& tensors, const AdamWOptions& options, int64_t step,
                const Tensor& grad_scale);

void add_inplace(const Tensor& dst, const Tensor& src);

}  // namespace strand::cpu
