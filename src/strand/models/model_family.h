// A model family: everything strand needs to know about one architecture besides its computation, in one
// place, so that the trainer, `strand init/forward/score/embed/generate/info` and the checkpoint readers and
// writers never switch on an architecture's name. A family lives in its own folder (models/llama/,
// models/esm2/) and is registered by one line of models/registry.cpp; tests register their own.
//
// A family provides:
//   - its recipe section: the model.* fields of `strand train`, with defaults and descriptions
//     (bind_recipe), which build the configured model;
//   - the training objective its models learn by default, and its default tokenizer;
//   - Hugging Face interop: the config.json model_type it reads and writes, the mapping between config.json
//     and the model, and the rules for the tensors of a checkpoint that are not parameters or buffers
//     (interop/hf_checkpoint.h applies them);
//   - its models (LanguageModel), which report their own FLOP count.
#pragma once

#include "strand/core/config_schema.h"
#include "strand/models/language_model.h"
#include "strand/nn/parameter.h"

#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace strand {

// What a model learns to predict by default (the recipe's data.objective=auto).
enum class Objective {
  causal,  // the next token of each sequence
  masked,  // masked tokens from both sides (BERT/ESM-2 style)
};

// A family's model.* fields of a recipe, bound to a schema by ModelFamily::bind_recipe: the configured model.
class ModelRecipe {
 public:
  virtual ~ModelRecipe() = default;
  // The configured model, uninitialised. Invalid fields are errors naming the recipe key.
  virtual std::unique_ptr<LanguageModel> build(const nn::Placement& placement) const = 0;
  // Sets every bound field (and what build() reads besides them) to describe the model of `config`, a
  // config.json of this family, so that build() makes that model: the architecture of a model.init_from
  // directory when the recipe gives no model section. `source` names the file in errors.
  virtual void assign_hf_config(const nlohmann::json& config, const std::string& source) = 0;
};

// A tensor a HF checkpoint holds besides the parameters and buffers, and what the model says it must be.
struct HfDerivedTensor {
  Tensor expected;         // F32 host tensor the file's copy must match; undefined: not checked (skipped)
  double tolerance = 0.0;  // relative, against max(1, |expected|)
};

class ModelFamily {
 public:
  virtual ~ModelFamily() = default;

  // The recipe's model.arch and the models' LanguageModel::arch() ("llama", "esm2").
  virtual std::string arch() const = 0;
  // One line for listings: what the family is.
  virtual std::string description() const = 0;
  virtual Objective objective() const = 0;
  // Tokenizer::by_name of the tokenizer its models read when a model directory names none.
  virtual std::string default_tokenizer() const = 0;

  // Binds the model.* fields (except model.arch and model.init_from, which the trainer owns) to `schema`.
  // The returned recipe reads the bound values when it builds; it must outlive nothing but its own use.
  virtual std::unique_ptr<ModelRecipe> bind_recipe(ConfigSchema& schema) const = 0;

  // config.json's model_type ("llama", "esm").
  virtual std::string hf_model_type() const = 0;
  // An uninitialised model from a config.json of this family; `source` names the file in errors.
  virtual std::unique_ptr<LanguageModel> from_hf_config(const nlohmann::json& config,
                                                        const std::string& source,
                                                        const nn::Placement& placement) const = 0;
  // The config.json of `model` (a model of this family) with weights stored as `weights_dtype`.
  virtual nlohmann::json to_hf_config(const LanguageModel& model, DType weights_dtype) const = 0;
  // The name strand gives a tensor stored in a checkpoint as `stored` (another writer's spelling of a
  // parameter, e.g. LayerNorm.gamma for LayerNorm.weight); `stored` itself when nothing differs.
  virtual std::string hf_canonical_name(const std::string& stored) const { return stored; }
  // A tensor of a checkpoint that is neither a parameter nor a buffer of `model` (after canonical naming):
  // what to check it against (with its parameters already loaded), or nullopt when the family does not
  // expect it (the reader reports it as unexpected).
  virtual std::optional<HfDerivedTensor> hf_derived_tensor(LanguageModel& model,
                                                           const std::string& name) const;
  // Tensors an export writes besides parameters and buffers (tables other readers expect), as F32 host
  // tensors.
  virtual std::vector<std::pair<std::string, Tensor>> hf_extra_tensors(LanguageModel& model) const;
};

// The model as the family's concrete type; an error naming the family when it is another family's model.
template <typename Model>
Model& model_of_family(const LanguageModel& model, const ModelFamily& family) {
  const auto* m = dynamic_cast<const Model*>(&model);
  STRAND_CHECK(m != nullptr, "a model of arch '{}' given to the '{}' family", model.arch(), family.arch());
  return const_cast<Model&>(*m);
}

}  // namespace strand
