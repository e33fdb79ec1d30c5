#include "strand/models/llama/model.h"

#include "strand/models/llama/decode_state.h"
#include "strand/models/weights_memory.h"
#include "strand/ops/elementwise.h"

#include <fmt/format.h>

namespace strand {
namespace {

nn::AttentionConfig attention_config(const LlamaConfig& c) {
  nn::AttentionConfig a;
  a.hidden = c.hidden_size;
  a.heads = c.num_heads;
  a.kv_heads = c.num_kv_heads;
  a.head_dim = c.resolved_head_dim();
  a.bias = false;
  a.causal = true;
  a.rotary = true;
  a.rope = c.rope;
  return a;
}

const LlamaConfig& validated(const LlamaConfig& c) {
  c.validate();
  return c;
}

// Checked after the config, whose parameter count it needs.
const nn::Placement& validated(const nn::Placement& p, const LlamaConfig& c) {
  if (p.device.type == DeviceType::CPU) {
    STRAND_CHECK(p.master == p.compute && (p.master == DType::F32 || p.master == DType::F64),
                 "the CPU Llama runs in F32 or F64, not {}", dtype_name(p.compute));
  } else {
    STRAND_CHECK(p.master == DType::F32 && (p.compute == DType::F32 || p.compute == DType::BF16),
                 "the CUDA Llama keeps F32 master weights and computes in F32 or BF16, not {}",
                 dtype_name(p.compute));
  }
  check_weights_fit(c.parameter_count(), p, "a Llama");
  return p;
}

}  // namespace

LlamaBlock::LlamaBlock(const std::string& prefix, const LlamaConfig& c, const nn::Placement& placement)
    : input_norm_(prefix + ".input_layernorm", c.hidden_size, c.rms_norm_eps, placement),
      attention_(prefix + ".self_attn", attention_config(c), placement),
      post_attention_norm_(prefix + ".post_attention_layernorm", c.hidden_size, c.rms_norm_eps, placement),
      mlp_(prefix + ".mlp", c.hidden_size, c.intermediate_size, placement) {}

// The skip connections ride on other ops: the output projections add the residual in their product, and the
// norms' backward passes sum in the gradient arriving through the skip. Each residual sum is a fresh arena
// tensor, since the norms keep their inputs for the backward.
Tensor LlamaBlock::forward(Arena& arena, const Tensor& h, const SeqLayout& layout) {
  const Tensor h1 = attention_.forward(arena, input_norm_.forward(arena, h), layout, h);
  return mlp_.forward(arena, post_attention_norm_.forward(arena, h1), h1);
}

void LlamaBlock::backward(Arena& arena, const Tensor& dh2, const Tensor& out) {
  const Tensor dh1 = post_attention_norm_.backward(arena, mlp_.backward(arena, dh2), dh2);
  input_norm_.backward(arena, attention_.backward(arena, dh1), dh1, out);
}

Tensor LlamaBlock::forward_decode(Arena& arena, const Tensor& h, nn::AttentionCache& cache,
                                  const nn::DecodeStep& step) {
  Tensor h1 = attention_.forward_decode(arena, input_norm_.forward(arena, h), cache, step);
  add_inplace(h1, h);
  return mlp_.forward(arena, post_attention_norm_.forward(arena, h1), h1);
}

void LlamaBlock::collect(nn::ParameterList& out) {
  input_norm_.collect(out);
  attention_.collect(out);
  post_attention_norm_.collect(out);
  mlp_.collect(out);
}

LlamaModel::LlamaModel(const LlamaConfig& config, const nn::Placement& placement)
    : config_(validated(config)),
      placement_(validated(placement, config)),
      embed_("model.embed_tokens", config.vocab_size, config.hidden_size, config.pad_token_id, placement),
      final_norm_("model.norm", config.hidden_size, config.rms_norm_eps, placement),
      lm_head_(config.tie_embeddings
                   ? nn::Linear(embed_.weight())
                   : nn::Linear("lm_head", config.hidden_size, config.vocab_size, false, placement)) {
  for (int64_t i = 0; i < config.num_layers; ++i)
    layers_.add(std::make_unique<LlamaBlock>(fmt::format("model.layers.{}", i), config, placement));
}

void LlamaModel::init(uint64_t seed) {
  nn::ParameterList params = parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    nn::Parameter& p = *params[i];
    if (&p == &embed_.weight()) {
      embed_.init(seed, i, config_.init_std);
    } else if (p.value.rank() == 1) {
      nn::init_constant(p, 1.0);  // RMSNorm weights
    } else {
      nn::init_normal(p, seed, i, config_.init_std);
    }
  }
}

Tensor LlamaModel::forward(Arena& arena, const Tensor& tokens, const SeqLayout& layout) {
  check_tensor(tokens, "tokens", DType::I32, {layout.num_tokens()});
  layout.validate();
  const Tensor h = layers_.forward(arena, embed_.forward(arena, tokens), layout);
  return lm_head_.forward(arena, final_norm_.forward(arena, h));
}

Tensor LlamaModel::representations(Arena& arena, const Tensor& tokens, const SeqLayout& layout,
                                   int64_t layer) {
  check_tensor(tokens, "tokens", DType::I32, {layout.num_tokens()});
  layout.validate();
  STRAND_CHECK(layer >= 0 && layer <= config_.num_layers, "llama: layer {} outside [0, {}]", layer,
               config_.num_layers);
  const Tensor h = layers_.forward(arena, embed_.forward(arena, tokens), layout, static_cast<size_t>(layer));
  return layer == config_.num_layers ? final_norm_.forward(arena, h) : h;
}

std::unique_ptr<DecodeState> LlamaModel::new_decode_state(int64_t batch, int64_t max_len) {
  STRAND_CHECK(batch > 0 && max_len > 0,
               "llama: a decode state needs a positive batch and length, got {} and {}", batch, max_len);
  STRAND_CHECK(config_.max_position_embeddings <= 0 || max_len <= config_.max_position_embeddings,
               "llama: a decode state of {} tokens is longer than the model's {} positions", max_len,
               config_.max_position_embeddings);
  std::vector<nn::AttentionCache> caches;
  caches.reserve(layers_.size());
  for (size_t i = 0; i < layers_.size(); ++i) caches.push_back(layers_[i].new_cache(batch, max_len));
  return std::make_unique<LlamaDecodeState>(batch, max_len, std::move(caches));
}

Tensor LlamaModel::forward_decode(Arena& arena, const Tensor& tokens, DecodeState& state) {
  auto* llama = dynamic_cast<LlamaDecodeState*>(&state);
  STRAND_CHECK(llama != nullptr && llama->num_layers() == config_.num_layers,
               "decode forward: the decode state was not made by this Llama model");
  check_tensor(tokens, "tokens", DType::I32, {-1});
  const int64_t batch = state.batch(), past = state.length();
  STRAND_CHECK(tokens.numel() > 0 && tokens.numel() % batch == 0,
               "decode forward: {} tokens are not the same number of new tokens for each of {} sequences",
               tokens.numel(), batch);
  const int64_t t = tokens.numel() / batch;
  STRAND_CHECK(t <= state.remaining(),
               "decode forward: {} new tokens after {} do not fit a decode state of {}", t, past,
               state.max_len());
  const nn::DecodeStep step = nn::DecodeStep::make(arena, batch, past, t);
  Tensor h = embed_.forward(arena, tokens);
  for (size_t i = 0; i < layers_.size(); ++i) h = layers_[i].forward_decode(arena, h, llama->layer(i), step);
  Tensor logits = lm_head_.forward(arena, final_norm_.forward(arena, h));
  state.advance(t);
  return logits;
}

void LlamaModel::backward(Arena& arena, const Tensor& dlogits) {
  const Tensor dh = layers_.backward(arena, final_norm_.backward(arena, lm_head_.backward(arena, dlogits)),
                                     gradients_ready_hook());
  embed_.backward(dh);
  if (gradients_ready_hook()) {
    // The embedding last: a tied LM head adds to its gradient too.
    nn::ParameterList rest;
    embed_.collect(rest);
    final_norm_.collect(rest);
    lm_head_.collect(rest);
    report_gradients(rest);
  }
}

double LlamaModel::training_flops(const std::vector<int64_t>& sequence_lengths) const {
  const LlamaConfig& m = config_;
  const double h = static_cast<double>(m.hidden_size), d = static_cast<double>(m.resolved_head_dim());
  const double attn = h * d * static_cast<double>(m.num_heads + 2 * m.num_kv_heads) +
                      d * static_cast<double>(m.num_heads) * h;
  const double mlp = 3 * h * static_cast<double>(m.intermediate_size);
  const double matmul_params =
      static_cast<double>(m.num_layers) * (attn + mlp) + h * static_cast<double>(m.vocab_size);
  double tokens = 0, squares = 0;
  for (const int64_t len : sequence_lengths) {
    tokens += static_cast<double>(len);
    squares += static_cast<double>(len) * static_cast<double>(len);
  }
  return 6 * matmul_params * tokens + 6 * static_cast<double>(m.num_layers) * h * squares;
}

nn::ParameterList LlamaModel::parameters() {
  nn::ParameterList out;
  embed_.collect(out);
  layers_.collect(out);
  final_norm_.collect(out);
  lm_head_.collect(out);
  return out;
}

}  // namespace strand
