// Hugging Face model directories (config.json + model.safetensors or shards) in and out of strand models,
// for every registered model family (models/registry.h): the family maps config.json, this reads and writes
// the tensors.
//
// Reading: every parameter must be in the checkpoint (a shape mismatch or a non-float dtype is an error
// naming the tensor and the file); a buffer (LanguageModel::buffers) is read when present; any other tensor
// must be one the family expects (ModelFamily::hf_derived_tensor), which is then checked against what the
// model derives, or it is an error naming it. Names pass through ModelFamily::hf_canonical_name first, so
// other writers' spellings of a parameter load; two stored tensors for one parameter are an error.
#pragma once

#include "strand/io/checkpoint_dir.h"
#include "strand/models/language_model.h"
#include "strand/nn/parameter.h"

#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <string>

namespace strand::interop {

// Copies every parameter's value from `store` by name, converting dtypes (BF16/F16/F32/F64 -> the
// parameter's). A missing tensor, a shape mismatch, or a tensor in the store that no parameter takes (unless
// `ignorable` returns true for its name) is an error naming the tensor and the file.
void load_parameters(const nn::ParameterList& params, const io::TensorStore& store,
                     const std::function<bool(const std::string&)>& ignorable);

// An uninitialised model of the family whose model_type a config.json names; `source` names the file.
std::unique_ptr<LanguageModel> model_from_hf_config(const nlohmann::json& config, const std::string& source,
                                                    const nn::Placement& placement = DType::F32);

// Reads DIR/config.json and the weights next to it, into a model placed as asked.
std::unique_ptr<LanguageModel> load_hf_model(const std::string& dir,
                                             const nn::Placement& placement = DType::F32);

// load_hf_model as the concrete model type of its family: an error naming DIR when it holds a model of
// another family.
template <typename Model>
std::unique_ptr<Model> load_hf_model_as(const std::string& dir, const nn::Placement& placement = DType::F32) {
  std::unique_ptr<LanguageModel> model = load_hf_model(dir, placement);
  auto* typed = dynamic_cast<Model*>(model.get());
  STRAND_CHECK(typed != nullptr, "{}: holds a model of arch '{}', not the one asked for", dir, model->arch());
  model.release();
  return std::unique_ptr<Model>(typed);
}

// Writes DIR/config.json and DIR/model.safetensors: the parameters converted to `weights_dtype` (F32, BF16 or
// F16; a tied weight once, under its owner's name), the buffers and the family's extra tensors. DIR is
// created if missing.
void save_hf_model(LanguageModel& model, const std::string& dir, DType weights_dtype = DType::F32);

// Reads DIR/config.json as JSON, with errors naming the file.
nlohmann::json read_hf_config(const std::string& dir);
// Whether `dir` is a HF model directory (it holds config.json), and that file's path.
bool is_hf_model_directory(const std::string& dir);
std::string hf_config_path(const std::string& dir);

}  // namespace strand::interop
