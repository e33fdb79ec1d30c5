#include "strand/infer/model_tokenizer.h"

#include "strand/core/json.h"
#include "strand/models/registry.h"

#include <filesystem>

namespace strand::infer {

data::Tokenizer model_tokenizer(const std::string& model_dir, const std::string& name) {
  if (!name.empty()) return data::Tokenizer::by_name(name);
  const std::filesystem::path file = std::filesystem::path(model_dir) / "tokenizer.json";
  if (std::filesystem::exists(file)) return data::Tokenizer::from_hf_json(file.string());
  const std::filesystem::path config = std::filesystem::path(model_dir) / "config.json";
  if (std::filesystem::exists(config)) {
    const nlohmann::json j = read_json_file(config.string());
    if (j.is_object() && j.contains("model_type") && j["model_type"].is_string())
      if (const ModelFamily* f = find_model_family_for_hf_type(j["model_type"].get<std::string>()))
        return data::Tokenizer::by_name(f->default_tokenizer());
  }
  return data::Tokenizer::nucleotide();
}

}  // namespace strand::infer
