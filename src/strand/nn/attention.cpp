#include "strand/nn/attention.h"

#include "strand/ops/decode_attention.h"
#include "strand/ops/elementwise.h"
#include "strand/ops/linear.h"
#include "strand/ops/precision.h"

namespace strand::nn {

Attention::Attention(const std::string& prefix, const AttentionConfig& c, const Placement& placement)
    : config_(c),
      placement_(placement),
      qkv_proj_({{prefix + "." + c.q_name, c.heads * c.head_dim},
                 {prefix + "." + c.k_name, c.kv_heads * c.head_dim},
                 {prefix + "." + c.v_name, c.kv_heads * c.head_dim}},
                c.hidden, c.bias, placement),
      o_proj_(prefix + "." + c.o_name, c.heads * c.head_dim, c.hidden, c.bias, placement) {
  STRAND_CHECK(c.heads > 0 && c.kv_heads > 0 && c.heads % c.kv_heads == 0,
               "attention heads ({}) must be a positive multiple of key-value heads ({})", c.heads,
               c.kv_heads);
  if (c.rotary) {
    config_.rope.rotary_dim = c.head_dim;
    inv_freq_ = rope_inv_freq(config_.rope);
  }
}

Tensor Attention::heads_of(const Tensor& qkv) const {
  return qkv.view({qkv.size(0), config_.heads + 2 * config_.kv_heads, config_.head_dim});
}

Tensor Attention::forward(Arena& arena, const Tensor& x, const SeqLayout& layout, const Tensor& residual) {
  const int64_t tokens = x.size(0);
  const int64_t h = config_.heads, hkv = config_.kv_heads, d = config_.head_dim;
  layout_ = layout;
  qkv_ = qkv_proj_.forward(arena, x);
  const Tensor heads = heads_of(qkv_);
  // q and k are adjacent in every row, so one rotation covers both.
  if (config_.rotary) {
    const Tensor qk = heads.narrow(1, 0, h + hkv);
    rope_forward(qk, qk, layout.positions, inv_freq_);
  }
  out_ = Tensor::from_arena(arena, {tokens, h, d}, x.dtype());
  lse_ = Tensor::from_arena(arena, {tokens, h}, statistics_dtype(x));
  attention_forward(out_, lse_, heads.narrow(1, 0, h), heads.narrow(1, h, hkv), heads.narrow(1, h + hkv, hkv),
                    layout.cu_seqlens, options());
  return o_proj_.forward(arena, out_.view({tokens, h * d}), residual);
}

Tensor Attention::backward(Arena& arena, const Tensor& dy) {
  // The projections' weight-gradient products overlap the attention backward; every operand lives past the
  // scope.
  const DeferredWeightGrads deferred;
  const int64_t tokens = dy.size(0);
  const int64_t h = config_.heads, hkv = config_.kv_heads, d = config_.head_dim;
  const Tensor dout = o_proj_.backward(arena, dy).view({tokens, h, d});
  const Tensor dqkv = Tensor::from_arena(arena, qkv_.shape(), dy.dtype());
  const Tensor heads = heads_of(qkv_), dheads = heads_of(dqkv);
  attention_backward(dheads.narrow(1, 0, h), dheads.narrow(1, h, hkv), dheads.narrow(1, h + hkv, hkv), dout,
                     heads.narrow(1, 0, h), heads.narrow(1, h, hkv), heads.narrow(1, h + hkv, hkv), out_,
                     lse_, layout_.cu_seqlens, options());
  if (config_.rotary) {
    const Tensor dqk = dheads.narrow(1, 0, h + hkv);
    rope_backward(dqk, dqk, layout_.positions, inv_freq_);
  }
  return qkv_proj_.backward(arena, dqkv);
}

AttentionCache Attention::new_cache(int64_t batch, int64_t max_len) const {
  return AttentionCache(batch, max_len, config_.kv_heads, config_.head_dim, placement_.compute,
                        placement_.device);
}

Tensor Attention::forward_decode(Arena& arena, const Tensor& x, AttentionCache& cache,
                                 const DecodeStep& step) {
  const int64_t batch = step.batch, t = step.tokens, past = step.past;
  const int64_t h = config_.heads, hkv = config_.kv_heads, d = config_.head_dim;
  STRAND_CHECK(config_.causal, "attention: the decode forward is for causal attention only");
  check_tensor(cache.k(), "k_cache", placement_.compute, {batch, -1, hkv, d});
  check_tensor(cache.v(), "v_cache", placement_.compute, cache.k().shape());
  check_tensor(x, "x", placement_.compute, {batch * t, config_.hidden});
  STRAND_CHECK(past + t <= cache.max_len(),
               "attention: {} new tokens after {} cached do not fit a cache of {}", t, past, cache.max_len());
  const Tensor heads = heads_of(qkv_proj_.forward(arena, x));
  // q and k are adjacent in every row, so one rotation covers both (as in forward()); the keys are then
  // cached rotated.
  if (config_.rotary) {
    const Tensor qk = heads.narrow(1, 0, h + hkv);
    rope_forward(qk, qk, step.positions, inv_freq_);
  }
  for (int64_t b = 0; b < batch; ++b) {
    const Tensor rows = heads.narrow(0, b * t, t);
    copy(cache.k().narrow(0, b, 1).view({-1, hkv, d}).narrow(0, past, t), rows.narrow(1, h, hkv));
    copy(cache.v().narrow(0, b, 1).view({-1, hkv, d}).narrow(0, past, t), rows.narrow(1, h + hkv, hkv));
  }
  const Tensor out = Tensor::from_arena(arena, {batch * t, h, d}, x.dtype());
  decode_attention_forward(out, Tensor(), heads.narrow(1, 0, h), cache.k().narrow(1, 0, past + t),
                           cache.v().narrow(1, 0, past + t), {true, config_.softmax_scale});
  return o_proj_.forward(arena, out.view({batch * t, h * d}));
}

AttentionOptions Attention::options() const {
  AttentionOptions o;
  o.causal = config_.causal;
  o.scale = config_.softmax_scale;
  o.max_seqlen = layout_.max_seqlen;
  return o;
}

void Attention::collect(ParameterList& out) {
  qkv_proj_.collect(out);
  o_proj_.collect(out);
}

}  // namespace strand::nn
