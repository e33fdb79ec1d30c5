#include "strand/models/esm2/model.h"

#include "strand/core/philox.h"
#include "strand/models/weights_memory.h"
#include "strand/ops/activation.h"
#include "strand/ops/precision.h"
#include "strand/ops/token_dropout.h"

#include <fmt/format.h>

namespace strand {
namespace {

nn::AttentionConfig attention_config(const Esm2Config& c) {
  nn::AttentionConfig a;
  a.hidden = c.hidden_size;
  a.heads = c.num_heads;
  a.kv_heads = c.num_heads;
  a.head_dim = c.head_dim();
  a.bias = true;
  a.causal = false;
  // ESM scales q by head_dim^-0.5 before the rotation and the scores by nothing; rotation is linear, so
  // scaling the scores instead is the same computation.
  a.softmax_scale = 0.0;
  a.rotary = true;
  a.rope.theta = 10000.0;
  a.q_name = "attention.self.query";
  a.k_name = "attention.self.key";
  a.v_name = "attention.self.value";
  a.o_name = "attention.output.dense";
  return a;
}

const Esm2Config& validated(const Esm2Config& c) {
  c.validate();
  return c;
}

// Checked after the config, whose parameter count it needs.
const nn::Placement& validated(const nn::Placement& p, const Esm2Config& c) {
  if (p.device.type == DeviceType::CPU) {
    STRAND_CHECK(p.master == p.compute && (p.master == DType::F32 || p.master == DType::F64),
                 "the CPU ESM-2 runs in F32 or F64, not {}", dtype_name(p.compute));
  } else {
    STRAND_CHECK(p.master == DType::F32 && (p.compute == DType::F32 || p.compute == DType::BF16),
                 "the CUDA ESM-2 keeps F32 master weights and computes in F32 or BF16, not {}",
                 dtype_name(p.compute));
  }
  check_weights_fit(c.parameter_count(), p, "an ESM-2 model");
  return p;
}

nn::Linear make_decoder(const Esm2Config& c, nn::Embedding& embed, const nn::Placement& placement) {
  if (c.tie_embeddings) return nn::Linear(embed.weight(), "lm_head.bias", placement);
  return nn::Linear("lm_head.decoder.weight", "lm_head.bias", c.hidden_size, c.vocab_size, placement);
}

}  // namespace

Esm2Block::Esm2Block(const std::string& prefix, const Esm2Config& c, const nn::Placement& placement)
    : attention_norm_(prefix + ".attention.LayerNorm", c.hidden_size, c.layer_norm_eps, placement),
      attention_(prefix, attention_config(c), placement),
      mlp_norm_(prefix + ".LayerNorm", c.hidden_size, c.layer_norm_eps, placement),
      mlp_(prefix + ".intermediate.dense", prefix + ".output.dense", c.hidden_size, c.intermediate_size,
           placement) {}

// As in the Llama block, the skip connections ride on the output projections (forward) and on the norms'
// backward passes.
Tensor Esm2Block::forward(Arena& arena, const Tensor& h, const SeqLayout& layout) {
  const Tensor h1 = attention_.forward(arena, attention_norm_.forward(arena, h), layout, h);
  return mlp_.forward(arena, mlp_norm_.forward(arena, h1), h1);
}

void Esm2Block::backward(Arena& arena, const Tensor& dh2, const Tensor& out) {
  const Tensor dh1 = mlp_norm_.backward(arena, mlp_.backward(arena, dh2), dh2);
  attention_norm_.backward(arena, attention_.backward(arena, dh1), dh1, out);
}

void Esm2Block::collect(nn::ParameterList& out) {
  attention_norm_.collect(out);
  attention_.collect(out);
  mlp_norm_.collect(out);
  mlp_.collect(out);
}

Esm2Model::Esm2Model(const Esm2Config& config, const nn::Placement& placement)
    : config_(validated(config)),
      placement_(validated(placement, config)),
      embed_("esm.embeddings.word_embeddings", config.vocab_size, config.hidden_size, config.pad_token_id,
             placement),
      final_norm_("esm.encoder.emb_layer_norm_after", config.hidden_size, config.layer_norm_eps, placement),
      head_dense_("lm_head.dense", config.hidden_size, config.hidden_size, true, placement),
      head_norm_("lm_head.layer_norm", config.hidden_size, config.layer_norm_eps, placement),
      decoder_(make_decoder(config, embed_, placement)),
      contact_weight_(Tensor::zeros({1, config.num_layers * config.num_heads}, DType::F32)),
      contact_bias_(Tensor::zeros({1}, DType::F32)) {
  for (int64_t i = 0; i < config.num_layers; ++i)
    layers_.add(std::make_unique<Esm2Block>(fmt::format("esm.encoder.layer.{}", i), config, placement));
}

void Esm2Model::init(uint64_t seed) {
  nn::ParameterList params = parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    nn::Parameter& p = *params[i];
    if (&p == &embed_.weight()) {
      embed_.init(seed, i, config_.init_std);
    } else if (p.value.rank() == 2) {
      nn::init_normal(p, seed, i, config_.init_std);
    } else {
      // Every vector is a bias (zero) or a LayerNorm scale (one).
      nn::init_constant(p, p.name.ends_with(".bias") ? 0.0 : 1.0);
    }
  }
  float* w = contact_weight_.data<float>();
  for (int64_t j = 0; j < contact_weight_.numel(); ++j)
    w[j] =
        static_cast<float>(config_.init_std * philox_normal(seed, params.size(), static_cast<uint64_t>(j)));
  contact_bias_.fill(0.0);
}

Tensor Esm2Model::embed(Arena& arena, const Tensor& tokens, const SeqLayout& layout) {
  check_tensor(tokens, "tokens", DType::I32, {layout.num_tokens()});
  layout.validate();
  const Tensor h = embed_.forward(arena, tokens);
  if (config_.token_dropout) {
    token_scales_ = Tensor::from_arena(arena, {tokens.numel()}, statistics_dtype(h));
    token_dropout_scales(token_scales_, tokens, layout.cu_seqlens,
                         static_cast<int32_t>(config_.mask_token_id),
                         static_cast<int32_t>(config_.pad_token_id));
    scale_rows(h, h, token_scales_);
  }
  return h;
}

Tensor Esm2Model::forward(Arena& arena, const Tensor& tokens, const SeqLayout& layout) {
  const Tensor h = final_norm_.forward(arena, layers_.forward(arena, embed(arena, tokens, layout), layout));
  head_pre_activation_ = head_dense_.forward(arena, h);
  const Tensor act = Tensor::from_arena(arena, head_pre_activation_.shape(), head_pre_activation_.dtype());
  gelu_forward(act, head_pre_activation_);
  return decoder_.forward(arena, head_norm_.forward(arena, act));
}

void Esm2Model::backward(Arena& arena, const Tensor& dlogits) {
  const Tensor dact = head_norm_.backward(arena, decoder_.backward(arena, dlogits));
  const Tensor dpre = Tensor::from_arena(arena, dact.shape(), dact.dtype());
  gelu_backward(dpre, dact, head_pre_activation_);
  const Tensor dh = layers_.backward(arena, final_norm_.backward(arena, head_dense_.backward(arena, dpre)),
                                     gradients_ready_hook());
  if (config_.token_dropout) scale_rows(dh, dh, token_scales_);  // the factors are constants of the batch
  embed_.backward(dh);
  if (gradients_ready_hook()) {
    // The embedding last: a tied decoder adds to its gradient too.
    nn::ParameterList rest;
    embed_.collect(rest);
    final_norm_.collect(rest);
    head_dense_.collect(rest);
    head_norm_.collect(rest);
    decoder_.collect(rest);
    report_gradients(rest);
  }
}

Tensor Esm2Model::representations(Arena& arena, const Tensor& tokens, const SeqLayout& layout,
                                  int64_t layer) {
  STRAND_CHECK(layer >= 0 && layer <= config_.num_layers, "esm2: layer {} outside [0, {}]", layer,
               config_.num_layers);
  const Tensor h = layers_.forward(arena, embed(arena, tokens, layout), layout, static_cast<size_t>(layer));
  return layer == config_.num_layers ? final_norm_.forward(arena, h) : h;
}

double Esm2Model::training_flops(const std::vector<int64_t>& sequence_lengths) const {
  const auto h = static_cast<double>(config_.hidden_size);
  const double per_layer = 4 * h * h + 2 * h * static_cast<double>(config_.intermediate_size);
  const double matmul_params = static_cast<double>(config_.num_layers) * per_layer + h * h +
                               h * static_cast<double>(config_.vocab_size);
  double tokens = 0, squares = 0;
  for (const int64_t len : sequence_lengths) {
    tokens += static_cast<double>(len);
    squares += static_cast<double>(len) * static_cast<double>(len);
  }
  return 6 * matmul_params * tokens + 12 * static_cast<double>(config_.num_layers) * h * squares;
}

std::vector<ModelBuffer> Esm2Model::buffers() {
  return {{"esm.contact_head.regression.weight", &contact_weight_},
          {"esm.contact_head.regression.bias", &contact_bias_}};
}

nn::ParameterList Esm2Model::parameters() {
  nn::ParameterList out;
  embed_.collect(out);
  layers_.collect(out);
  final_norm_.collect(out);
  head_dense_.collect(out);
  head_norm_.collect(out);
  decoder_.collect(out);
  return out;
}

}  // namespace strand
