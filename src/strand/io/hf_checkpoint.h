// Hugging Face model directories (config.json + model.safetensors or shards) in and out of strand models.
#pragma once

#include "strand/io/checkpoint_dir.h"
#include "strand/io/json.h"
#include "strand/models/esm2/model.h"
#include "strand/models/llama/model.h"
#include "strand/nn/parameter.h"

#include <functional>
#include <memory>
#include <string>

namespace strand::io {

// Copies every parameter's value from `store` by name, converting dtypes (BF16/F16/F32/F64 -> the
// parameter's). A missing tensor, a shape mismatch, or a tensor in the store that no parameter takes (unless
// `ignorable` returns true for its name) is an error naming the tensor and the file.
void load_parameters(const nn::ParameterList& params, const TensorStore& store,
                     const std::function<bool(const std::string&)>& ignorable);

// Reads DIR/config.json (model_type "llama") and the weights next to it, into a model placed as asked.
std::unique_ptr<LlamaModel> load_hf_llama(const std::string& dir,
                                          const nn::Placement& placement = DType::F32);

// Writes DIR/config.json and DIR/model.safetensors (weights converted to `weights_dtype`; a tied LM head is
// not written, as transformers does). DIR is created if missing.
void save_hf_llama(LlamaModel& model, const std::string& dir, DType weights_dtype = DType::F32);

// Reads DIR/config.json (model_type "esm", an EsmForMaskedLM) and the weights next to it. The rotary tables
// and a tied decoder copy in the file are checked against the model's and otherwise not needed; the contact
// head is kept (Esm2Model::contact_weight) so an export writes it back.
std::unique_ptr<Esm2Model> load_hf_esm2(const std::string& dir, const nn::Placement& placement = DType::F32);

// Writes DIR/config.json and DIR/model.safetensors as transformers' EsmForMaskedLM (the rotary tables and the
// contact head included, a tied decoder left out).
void save_hf_esm2(Esm2Model& model, const std::string& dir, DType weights_dtype = DType::F32);

// An uninitialised model of the architecture a config.json describes (model_type "llama" or "esm"); `source`
// names the file in errors.
std::unique_ptr<LanguageModel> model_from_hf_config(const nlohmann::json& config, const std::string& source,
                                                    const nn::Placement& placement = DType::F32);

// Either of the above, by DIR/config.json's model_type ("llama", "esm").
std::unique_ptr<LanguageModel> load_hf_model(const std::string& dir,
                                             const nn::Placement& placement = DType::F32);
// By the model's arch().
void save_hf_model(LanguageModel& model, const std::string& dir, DType weights_dtype = DType::F32);

// Reads DIR/config.json as JSON, with errors naming the file.
nlohmann::json read_hf_config(const std::string& dir);

}  // namespace strand::io
