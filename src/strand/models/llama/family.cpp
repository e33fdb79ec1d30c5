#include "strand/models/llama/family.h"

#include "strand/models/llama/hf_config.h"
#include "strand/models/llama/model.h"
#include "strand/models/recipe_fields.h"

namespace strand {
namespace {

// The recipe's model.* fields of a Llama. The defaults are the embedded demo's: a small genomic decoder
// that learns E. coli on two CPU cores in minutes, with the genomic recipe's llama3 rope scaling.
class LlamaRecipe final : public ModelRecipe {
 public:
  explicit LlamaRecipe(ConfigSchema& s) {
    LlamaConfig defaults;
    defaults.vocab_size = 256;
    defaults.hidden_size = 128;
    defaults.intermediate_size = 384;
    defaults.num_layers = 4;
    defaults.num_heads = 4;
    defaults.num_kv_heads = 2;
    defaults.max_position_embeddings = 8192;
    bind_transformer_fields(s, config_, defaults);
    s.add("model.num_key_value_heads", &config_.num_kv_heads, defaults.num_kv_heads,
          "key/value heads (grouped-query attention)");
    s.add("model.head_dim", &config_.head_dim, 0, "head dimension (0: hidden_size / num_attention_heads)");
    s.add("model.rms_norm_eps", &config_.rms_norm_eps, 1e-5, "RMSNorm epsilon");
    s.add("model.rope_theta", &config_.rope.theta, defaults.rope.theta, "RoPE base");
    s.add_choice("model.rope_type", &rope_type_, "llama3", {"default", "llama3"}, "RoPE frequency scaling");
    s.add("model.rope_factor", &rope_factor_, defaults.rope.factor, "llama3 scaling factor");
    s.add("model.rope_low_freq_factor", &config_.rope.low_freq_factor, defaults.rope.low_freq_factor,
          "llama3 low-frequency factor");
    s.add("model.rope_high_freq_factor", &config_.rope.high_freq_factor, defaults.rope.high_freq_factor,
          "llama3 high-frequency factor");
    s.add("model.rope_original_max_position_embeddings", &config_.rope.original_max_position,
          defaults.rope.original_max_position, "llama3 original context length");
  }

  std::unique_ptr<LanguageModel> build(const nn::Placement& placement) const override {
    LlamaConfig c = config_;
    c.rope.factor = rope_type_ == "llama3" ? rope_factor_ : 0.0;
    return std::make_unique<LlamaModel>(c, placement);
  }

  void assign_hf_config(const nlohmann::json& config, const std::string& source) override {
    config_ = llama_config_from_hf(config, source);
    rope_type_ = config_.rope.factor != 0 ? "llama3" : "default";
    if (config_.rope.factor != 0) rope_factor_ = config_.rope.factor;
  }

 private:
  LlamaConfig config_;
  std::string rope_type_;
  double rope_factor_ = 0;
};

class LlamaFamily final : public ModelFamily {
 public:
  std::string arch() const override { return "llama"; }
  std::string description() const override { return "Llama-3 style causal decoder (LlamaForCausalLM)"; }
  Objective objective() const override { return Objective::causal; }
  std::string default_tokenizer() const override { return "nucleotide"; }
  std::unique_ptr<ModelRecipe> bind_recipe(ConfigSchema& schema) const override {
    return std::make_unique<LlamaRecipe>(schema);
  }
  std::string hf_model_type() const override { return "llama"; }
  std::unique_ptr<LanguageModel> from_hf_config(const nlohmann::json& config, const std::string& source,
                                                const nn::Placement& placement) const override {
    return std::make_unique<LlamaModel>(llama_config_from_hf(config, source), placement);
  }
  nlohmann::json to_hf_config(const LanguageModel& model, DType weights_dtype) const override {
    return llama_config_to_hf(model_of_family<LlamaModel>(model, *this).config(), weights_dtype);
  }
  // Older exports carry the rotary table as a buffer, and tied checkpoints sometimes keep a copy of the head:
  // neither is read.
  std::optional<HfDerivedTensor> hf_derived_tensor(LanguageModel& model,
                                                   const std::string& name) const override {
    const bool tied = model_of_family<LlamaModel>(model, *this).config().tie_embeddings;
    if (name.ends_with(".rotary_emb.inv_freq") || (tied && name == "lm_head.weight"))
      return HfDerivedTensor{};
    return std::nullopt;
  }
};

}  // namespace

std::unique_ptr<ModelFamily> make_llama_family() {
  return std::make_unique<LlamaFamily>();
}

}  // namespace strand
