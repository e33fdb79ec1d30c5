// Llama-3 decoder (transformers' LlamaForCausalLM) over packed batches:
//   h = embed(tokens); per layer: h += attn(rmsnorm(h)); h += mlp(rmsnorm(h)); logits = lm_head(rmsnorm(h)).
// Parameter names are transformers' (model.layers.{i}.self_attn.q_proj.weight, ...), so HF checkpoints map
// 1:1.
#pragma once

#include "strand/models/block_stack.h"
#include "strand/models/causal_lm.h"
#include "strand/models/llama/config.h"
#include "strand/nn/attention.h"
#include "strand/nn/embedding.h"
#include "strand/nn/gated_mlp.h"
#include "strand/nn/linear.h"
#include "strand/nn/rmsnorm.h"

#include <memory>
#include <vector>

namespace strand {

class LlamaBlock {
 public:
  LlamaBlock(const std::string& prefix, const LlamaConfig& config, const nn::Placement& placement);
  Tensor forward(Arena& arena, const Tensor& h, const SeqLayout& layout);
  // dh [T, C] at the block's output -> the gradient at its input, written to `out` [T, C].
  void backward(Arena& arena, const Tensor& dh, const Tensor& out);
  void collect(nn::ParameterList& out);
  // A cache of this layer's keys and values for `batch` sequences of up to max_len tokens.
  nn::AttentionCache new_cache(int64_t batch, int64_t max_len) const {
    return attention_.new_cache(batch, max_len);
  }
  // The new tokens of a decode step, h [batch * t, C], against this layer's cache
  // (nn::Attention::forward_decode).
  Tensor forward_decode(Arena& arena, const Tensor& h, nn::AttentionCache& cache, const nn::DecodeStep& step);

 private:
  nn::RMSNorm input_norm_;
  nn::Attention attention_;
  nn::RMSNorm post_attention_norm_;
  nn::GatedMLP mlp_;
};

class LlamaModel final : public CausalLM {
 public:
  // Parameters are allocated uninitialised; call init() or load them. A CPU model computes in its dtype (F32,
  // or F64 for gradient checks); a CUDA one keeps F32 masters and computes in the placement's compute dtype.
  explicit LlamaModel(const LlamaConfig& config, const nn::Placement& placement = DType::F32);
  LlamaModel(const LlamaModel&) = delete;
  LlamaModel& operator=(const LlamaModel&) = delete;

  // transformers' scheme: linear and embedding weights ~ N(0, init_std^2), the padding row zero, norms one.
  // Parameter i draws from Philox stream i of `seed`.
  void init(uint64_t seed) override;

  Tensor forward(Arena& arena, const Tensor& tokens, const SeqLayout& layout) override;
  void backward(Arena& arena, const Tensor& dlogits) override;
  nn::ParameterList parameters() override;
  // About a third more compute for the recomputed blocks, a fraction of their memory.
  void set_recompute_layers(int64_t layers) override { layers_.set_recompute_layers(layers); }
  // Causal attention: 6 x layers x hidden x len^2 per sequence.
  double training_flops(const std::vector<int64_t>& sequence_lengths) const override;
  const char* arch() const override { return "llama"; }
  // Layer num_layers is the output of the final RMSNorm (the LM head's input).
  Tensor representations(Arena& arena, const Tensor& tokens, const SeqLayout& layout, int64_t layer) override;
  int64_t num_layers() const override { return config_.num_layers; }
  int64_t hidden_size() const override { return config_.hidden_size; }
  int64_t vocab_size() const override { return config_.vocab_size; }
  DType dtype() const override { return placement_.compute; }
  Device device() const override { return placement_.device; }
  // A LlamaDecodeState (models/llama/decode_state.h): one attention cache per layer.
  std::unique_ptr<DecodeState> new_decode_state(int64_t batch, int64_t max_len) override;
  Tensor forward_decode(Arena& arena, const Tensor& tokens, DecodeState& state) override;
  int64_t max_positions() const override { return config_.max_position_embeddings; }
  const LlamaConfig& config() const { return config_; }

 private:
  LlamaConfig config_;
  nn::Placement placement_;
  nn::Embedding embed_;
  BlockStack<LlamaBlock> layers_;
  nn::RMSNorm final_norm_;
  nn::Linear lm_head_;
};

}  // namespace strand
