// ESM-2 protein encoder (transformers' EsmForMaskedLM) over packed batches:
//   h = token_dropout(embed(tokens));
//   per layer (pre-LN): h += attn(LN(h)) with rotary positions restarting per sequence and bidirectional
//   attention inside each sequence; h += W_out gelu(W_in LN(h) + b_in) + b_out;
//   h = emb_layer_norm_after(h); logits = LN(gelu(dense(h))) E^T + bias   (decoder tied to the embeddings).
// Parameter names are transformers' (esm.encoder.layer.{i}.attention.self.query.weight, ...), so HF
// checkpoints map 1:1. The contact head's regression is not part of the computation; it is kept so a
// checkpoint survives a round trip through strand.
#pragma once

#include "strand/models/block_stack.h"
#include "strand/models/esm2/config.h"
#include "strand/models/language_model.h"
#include "strand/nn/attention.h"
#include "strand/nn/embedding.h"
#include "strand/nn/gelu_mlp.h"
#include "strand/nn/layernorm.h"
#include "strand/nn/linear.h"

#include <memory>

namespace strand {

class Esm2Block {
 public:
  Esm2Block(const std::string& prefix, const Esm2Config& config, const nn::Placement& placement);
  Tensor forward(Arena& arena, const Tensor& h, const SeqLayout& layout);
  // dh [T, C] at the block's output -> the gradient at its input, written to `out` [T, C].
  void backward(Arena& arena, const Tensor& dh, const Tensor& out);
  void collect(nn::ParameterList& out);

 private:
  nn::LayerNorm attention_norm_;
  nn::Attention attention_;
  nn::LayerNorm mlp_norm_;
  nn::GeluMLP mlp_;
};

class Esm2Model final : public LanguageModel {
 public:
  // Parameters are allocated uninitialised; call init() or load them. A CPU model computes in its dtype (F32,
  // or F64 for gradient checks); a CUDA one keeps F32 masters and computes in the placement's compute dtype.
  explicit Esm2Model(const Esm2Config& config, const nn::Placement& placement = DType::F32);
  Esm2Model(const Esm2Model&) = delete;
  Esm2Model& operator=(const Esm2Model&) = delete;

  const char* arch() const override { return "esm2"; }
  // transformers' scheme: linear and embedding weights ~ N(0, init_std^2), the padding row zero, biases zero,
  // LayerNorms (1, 0); the contact head too.
  void init(uint64_t seed) override;
  Tensor forward(Arena& arena, const Tensor& tokens, const SeqLayout& layout) override;
  void backward(Arena& arena, const Tensor& dlogits) override;
  nn::ParameterList parameters() override;
  // The contact head's regression (below).
  std::vector<ModelBuffer> buffers() override;
  void set_recompute_layers(int64_t layers) override { layers_.set_recompute_layers(layers); }
  // Bidirectional attention: 12 x layers x hidden x len^2 per sequence.
  double training_flops(const std::vector<int64_t>& sequence_lengths) const override;
  int64_t vocab_size() const override { return config_.vocab_size; }
  DType dtype() const override { return placement_.compute; }
  Device device() const override { return placement_.device; }
  int64_t max_positions() const override { return config_.max_position_embeddings; }
  const Esm2Config& config() const { return config_; }

  // Layer 0 is the embedding after token dropout; num_layers the output of emb_layer_norm_after.
  Tensor representations(Arena& arena, const Tensor& tokens, const SeqLayout& layout, int64_t layer) override;
  int64_t num_layers() const override { return config_.num_layers; }
  int64_t hidden_size() const override { return config_.hidden_size; }

  // esm.embeddings.word_embeddings.weight, which a tied decoder reads.
  nn::Parameter& word_embeddings() { return embed_.weight(); }

  // esm.contact_head.regression.{weight [1, layers x heads], bias [1]}: F32 host tensors, read and written by
  // HF interop (as buffers), unused by the computation.
  Tensor& contact_weight() { return contact_weight_; }
  Tensor& contact_bias() { return contact_bias_; }

 private:
  Tensor embed(Arena& arena, const Tensor& tokens, const SeqLayout& layout);

  Esm2Config config_;
  nn::Placement placement_;
  nn::Embedding embed_;
  BlockStack<Esm2Block> layers_;
  nn::LayerNorm final_norm_;
  nn::Linear head_dense_;
  nn::LayerNorm head_norm_;
  nn::Linear decoder_;
  Tensor contact_weight_, contact_bias_;
  Tensor token_scales_;         // F32 [T] of the last forward: each token's token-dropout factor
  Tensor head_pre_activation_;  // dense(h) of the last forward
};

}  // namespace strand
