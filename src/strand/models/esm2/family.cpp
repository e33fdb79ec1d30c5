#include "strand/models/esm2/family.h"

#include "strand/models/esm2/hf_config.h"
#include "strand/models/esm2/model.h"
#include "strand/models/recipe_fields.h"

#include <fmt/format.h>

#include <cmath>

namespace strand {
namespace {

// The recipe's model.* fields of an ESM-2 encoder; the defaults are esm2_t6_8M's.
class Esm2Recipe final : public ModelRecipe {
 public:
  explicit Esm2Recipe(ConfigSchema& s) {
    const Esm2Config defaults;
    bind_transformer_fields(s, config_, defaults);
    s.add("model.layer_norm_eps", &config_.layer_norm_eps, defaults.layer_norm_eps, "LayerNorm epsilon");
    s.add("model.token_dropout", &config_.token_dropout, defaults.token_dropout,
          "zero <mask> embeddings and rescale the rest per sequence (ESM-2's token dropout)");
    s.add("model.mask_token_id", &config_.mask_token_id, defaults.mask_token_id, "the <mask> token id");
  }

  std::unique_ptr<LanguageModel> build(const nn::Placement& placement) const override {
    return std::make_unique<Esm2Model>(config_, placement);
  }

  void assign_hf_config(const nlohmann::json& config, const std::string& source) override {
    config_ = esm2_config_from_hf(config, source);
  }

 private:
  Esm2Config config_;
};

// transformers' rotary table: 1 / 10000^(2i / head_dim), computed in F32 as it does.
Tensor esm2_inv_freq(const Esm2Config& c) {
  const int64_t d = c.head_dim();
  Tensor t = Tensor::empty({d / 2}, DType::F32);
  for (int64_t i = 0; i < d / 2; ++i)
    t.data<float>()[i] = 1.0f / std::pow(10000.0f, static_cast<float>(2 * i) / static_cast<float>(d));
  return t;
}

// A LayerNorm parameter under the names of the original TensorFlow-era BERT code (gamma, beta), which
// transformers 5.17's save_pretrained writes for ESM's per-layer LayerNorms.
std::string without_gamma_beta(const std::string& name) {
  for (const auto& [old_suffix, suffix] : {std::pair{".gamma", ".weight"}, std::pair{".beta", ".bias"}}) {
    const std::string_view n = name;
    if (n.ends_with(old_suffix) && n.find("LayerNorm") != std::string_view::npos)
      return name.substr(0, name.size() - std::string_view(old_suffix).size()) + suffix;
  }
  return name;
}

class Esm2Family final : public ModelFamily {
 public:
  std::string arch() const override { return "esm2"; }
  std::string description() const override { return "ESM-2 protein encoder, masked tokens (EsmForMaskedLM)"; }
  Objective objective() const override { return Objective::masked; }
  std::string default_tokenizer() const override { return "esm"; }
  std::unique_ptr<ModelRecipe> bind_recipe(ConfigSchema& schema) const override {
    return std::make_unique<Esm2Recipe>(schema);
  }
  std::string hf_model_type() const override { return "esm"; }
  std::unique_ptr<LanguageModel> from_hf_config(const nlohmann::json& config, const std::string& source,
                                                const nn::Placement& placement) const override {
    return std::make_unique<Esm2Model>(esm2_config_from_hf(config, source), placement);
  }
  nlohmann::json to_hf_config(const LanguageModel& model, DType weights_dtype) const override {
    return esm2_config_to_hf(model_of_family<Esm2Model>(model, *this).config(), weights_dtype);
  }
  std::string hf_canonical_name(const std::string& stored) const override {
    return without_gamma_beta(stored);
  }
  // The rotary tables (one shared table in transformers 5, one per layer in the released checkpoints, and
  // transformers 5.17's save_pretrained writing the shared one under a literal '*' layer) and a tied
  // decoder's copy of the embeddings must agree with what strand derives: a file whose table (another theta
  // or head size) or decoder differs describes another computation. bf16 files round the table, hence a
  // tolerance.
  std::optional<HfDerivedTensor> hf_derived_tensor(LanguageModel& model,
                                                   const std::string& name) const override {
    Esm2Model& esm = model_of_family<Esm2Model>(model, *this);
    if (name == "esm.embeddings.position_ids") return HfDerivedTensor{};
    if (name.ends_with(".rotary_embeddings.inv_freq"))
      return HfDerivedTensor{esm2_inv_freq(esm.config()), 1e-2};
    if (esm.config().tie_embeddings && name == "lm_head.decoder.weight")
      return HfDerivedTensor{esm.word_embeddings().value.to(Device::cpu()).to(DType::F32), 0.0};
    return std::nullopt;
  }
  // The per-layer tables of the released checkpoints, which every transformers version reads (5.x maps them
  // onto its shared table).
  std::vector<std::pair<std::string, Tensor>> hf_extra_tensors(LanguageModel& model) const override {
    const Esm2Config& c = model_of_family<Esm2Model>(model, *this).config();
    const Tensor inv_freq = esm2_inv_freq(c);
    std::vector<std::pair<std::string, Tensor>> out;
    for (int64_t i = 0; i < c.num_layers; ++i)
      out.emplace_back(fmt::format("esm.encoder.layer.{}.attention.self.rotary_embeddings.inv_freq", i),
                       inv_freq);
    return out;
  }
};

}  // namespace

std::unique_ptr<ModelFamily> make_esm2_family() {
  return std::make_unique<Esm2Family>();
}

}  // namespace strand
