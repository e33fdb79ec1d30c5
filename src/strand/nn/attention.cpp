#include "strand/nn/attention.h"

#include "strand/ops/decode_attention.h"
#include "strand/ops/elementwise.h"
#include "strand/ops/precision.h"

namespace strand::nn {

Attention::Attention(const std::string& prefix, const AttentionConfig& c, const Placement& placement)
    : config_(c),
      q_proj_(prefix + "." + c.q_name, c.hidden, c.heads * c.head_dim, c.bias, placement),
      k_proj_(prefix + "." + c.k_name, c.hidden, c.kv_heads * c.head_dim, c.bias, placement),
      v_proj_(prefix + "." + c.v_name, c.hidden, c.kv_heads * c.head_dim, c.bias, placement),
      o_proj_(prefix + "." + c.o_name, c.heads * c.head_dim, c.hidden, c.bias, placement) {
  STRAND_CHECK(c.heads > 0 && c.kv_heads > 0 && c.heads % c.kv_heads == 0,
               "attention heads ({}) must be a positive multiple of key-value heads ({})", c.heads,
               c.kv_heads);
  if (c.rotary) {
    config_.rope.rotary_dim = c.head_dim;
    inv_freq_ = rope_inv_freq(config_.rope);
  }
}

Tensor Attention::forward(Arena& arena, const Tensor& x, const SeqLayout& layout, const Tensor& residual) {
  const int64_t tokens = x.size(0);
  const int64_t h = config_.heads, hkv = config_.kv_heads, d = config_.head_dim;
  layout_ = layout;
  q_ = q_proj_.forward(arena, x).view({tokens, h, d});
  k_ = k_proj_.forward(arena, x).view({tokens, hkv, d});
  v_ = v_proj_.forward(arena, x).view({tokens, hkv, d});
  if (config_.rotary) {
    rope_forward(q_, q_, layout.positions, inv_freq_);
    rope_forward(k_, k_, layout.positions, inv_freq_);
  }
  out_ = Tensor::from_arena(arena, {tokens, h, d}, x.dtype());
  lse_ = Tensor::from_arena(arena, {tokens, h}, statistics_dtype(x));
  attention_forward(out_, lse_, q_, k_, v_, layout.cu_seqlens, options());
  return o_proj_.forward(arena, out_.view({tokens, h * d}), residual);
}

Tensor Attention::backward(Arena& arena, const Tensor& dy) {
  const int64_t tokens = dy.size(0);
  const int64_t h = config_.heads, hkv = config_.kv_heads, d = config_.head_dim;
  const Tensor dout = o_proj_.backward(arena, dy).view({tokens, h, d});
  Tensor dq = Tensor::from_arena(arena, {tokens, h, d}, dy.dtype());
  Tensor dk = Tensor::from_arena(arena, {tokens, hkv, d}, dy.dtype());
  Tensor dv = Tensor::from_arena(arena, {tokens, hkv, d}, dy.dtype());
  attention_backward(dq, dk, dv, dout, q_, k_, v_, out_, lse_, layout_.cu_seqlens, options());
  if (config_.rotary) {
    rope_backward(dq, dq, layout_.positions, inv_freq_);
    rope_backward(dk, dk, layout_.positions, inv_freq_);
  }
  Tensor dx = q_proj_.backward(arena, dq.view({tokens, h * d}));
  add_inplace(dx, k_proj_.backward(arena, dk.view({tokens, hkv * d})));
  add_inplace(dx, v_proj_.backward(arena, dv.view({tokens, hkv * d})));
  return dx;
}

Tensor Attention::forward_cached(Arena& arena, const Tensor& x, const Tensor& k_cache, const Tensor& v_cache,
                                 int64_t past) {
  const int64_t tokens = x.size(0);
  const int64_t h = config_.heads, hkv = config_.kv_heads, d = config_.head_dim;
  STRAND_CHECK(config_.causal, "attention: the cached forward is for causal attention only");
  check_tensor(k_cache, "k_cache", x.dtype(), {-1, hkv, d});
  check_tensor(v_cache, "v_cache", x.dtype(), k_cache.shape());
  STRAND_CHECK(tokens > 0 && past >= 0 && past + tokens <= k_cache.size(0),
               "attention: {} new tokens after {} cached do not fit a cache of {}", tokens, past,
               k_cache.size(0));
  const Tensor q = q_proj_.forward(arena, x).view({tokens, h, d});
  Tensor k_new = k_cache.narrow(0, past, tokens), v_new = v_cache.narrow(0, past, tokens);
  k_new.copy_from(k_proj_.forward(arena, x).view({tokens, hkv, d}));
  v_new.copy_from(v_proj_.forward(arena, x).view({tokens, hkv, d}));
  if (config_.rotary) {
    Tensor positions = Tensor::from_arena(arena, {tokens}, DType::I32);
    for (int64_t i = 0; i < tokens; ++i) positions.data<int32_t>()[i] = static_cast<int32_t>(past + i);
    rope_forward(q, q, positions, inv_freq_);
    rope_forward(k_new, k_new, positions, inv_freq_);
  }
  Tensor out = Tensor::from_arena(arena, {tokens, h, d}, x.dtype());
  decode_attention_forward(out, Tensor(), q, k_cache.narrow(0, 0, past + tokens),
                           v_cache.narrow(0, 0, past + tokens), {true, config_.softmax_scale});
  return o_proj_.forward(arena, out.view({tokens, h * d}));
}

AttentionOptions Attention::options() const {
  AttentionOptions o;
  o.causal = config_.causal;
  o.scale = config_.softmax_scale;
  o.max_seqlen = layout_.max_seqlen;
  return o;
}

void Attention::collect(ParameterList& out) {
  for (Linear* l : {&q_proj_, &k_proj_, &v_proj_, &o_proj_}) l->collect(out);
}

}  // namespace strand::nn
