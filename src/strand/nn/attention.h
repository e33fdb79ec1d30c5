// Multi-head self-attention module with grouped-query heads and optional rotary embedding:
//   q, k, v = x Wq^T, x Wk^T, x Wv^T (+ biases);  q, k rotated by position;  o = sdpa(q, k, v) Wo^T (+ bias).
// q, k and v come from one fused product ([T, (H + 2 Hkv) D], token rows holding q, then k, then v), which
// the rotation and the attention read in place as row-strided slices; the backward fills one such buffer of
// their gradients and runs one product back to dx.
// Parameter names follow transformers: <prefix>.{q,k,v,o}_proj.{weight,bias} (Llama) unless the config names
// the projections otherwise.
#pragma once

#include "strand/core/arena.h"
#include "strand/nn/attention_cache.h"
#include "strand/nn/fused_linear.h"
#include "strand/nn/linear.h"
#include "strand/ops/attention.h"
#include "strand/ops/packed.h"
#include "strand/ops/rope.h"

#include <string>
#include <vector>

namespace strand::nn {

struct AttentionConfig {
  int64_t hidden = 0;
  int64_t heads = 0;
  int64_t kv_heads = 0;
  int64_t head_dim = 0;
  bool bias = false;
  bool causal = true;
  double softmax_scale = 0.0;  // 0: 1/sqrt(head_dim)
  bool rotary = true;
  RopeOptions rope;  // rotary_dim is set to head_dim
  // The projections' names under the prefix (ESM-2: self.query, self.key, self.value, output.dense).
  std::string q_name = "q_proj", k_name = "k_proj", v_name = "v_proj", o_name = "o_proj";
};

class Attention {
 public:
  Attention(const std::string& prefix, const AttentionConfig& config, const Placement& placement);
  // x [T, hidden] -> [T, hidden], plus residual when given (added by the output projection); saves what the
  // backward needs in the arena.
  Tensor forward(Arena& arena, const Tensor& x, const SeqLayout& layout, const Tensor& residual = Tensor());
  // dy [T, hidden] -> dx [T, hidden]; accumulates parameter gradients.
  Tensor backward(Arena& arena, const Tensor& dy);
  void collect(ParameterList& out);

  // A cache for `batch` sequences of up to max_len tokens each, in the layer's compute dtype on its device.
  AttentionCache new_cache(int64_t batch, int64_t max_len) const;
  // Incremental forward (causal, inference only): x [batch * t, hidden] holds token i of sequence b in row
  // b * t + i, at position step.past + i (t = step.tokens). Writes the rotated keys and the values of the new
  // tokens into rows past .. past+t-1 of each sequence's cache and attends over its rows 0 .. past+t-1 (rows
  // 0 .. past-1 written by earlier steps). Returns [batch * t, hidden] from the arena. Saves nothing for a
  // backward (and replaces what the projections saved, so no backward may follow it before the next
  // forward).
  Tensor forward_decode(Arena& arena, const Tensor& x, AttentionCache& cache, const DecodeStep& step);

 private:
  AttentionOptions options() const;  // of the layout of the last forward
  // [T, (H + 2 Hkv) D] viewed as [T, H + 2 Hkv, D]: the query, key and value heads of each token.
  Tensor heads_of(const Tensor& qkv) const;

  AttentionConfig config_;
  Placement placement_;
  FusedLinear qkv_proj_;
  Linear o_proj_;
  std::vector<double> inv_freq_;
  SeqLayout layout_;
  Tensor qkv_, out_, lse_;  // q and k after rotation
};

}  // namespace strand::nn
