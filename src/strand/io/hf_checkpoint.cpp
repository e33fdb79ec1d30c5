#include "strand/io/hf_checkpoint.h"

#include "strand/io/atomic_file.h"
#include "strand/io/hf_esm2_config.h"
#include "strand/io/hf_llama_config.h"
#include "strand/io/json.h"

#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <set>

namespace strand::io {

namespace fs = std::filesystem;

nlohmann::json read_hf_config(const std::string& dir) {
  return read_json_file((fs::path(dir) / "config.json").string());
}

void load_parameters(const nn::ParameterList& params, const TensorStore& store,
                     const std::function<bool(const std::string&)>& ignorable) {
  std::set<std::string> taken;
  for (nn::Parameter* p : params) {
    STRAND_CHECK(store.contains(p->name), "{}: missing tensor '{}'", store.path(), p->name);
    const TensorInfo& info = store.info(p->name);
    STRAND_CHECK(info.shape == p->value.shape(), "{}: tensor '{}' has shape {}, the model expects {}",
                 store.path(), p->name, info.shape.str(), p->value.shape().str());
    STRAND_CHECK(dtype_is_float(info.dtype), "{}: tensor '{}' has dtype {}, expected a float type",
                 store.path(), p->name, dtype_name(info.dtype));
    nn::assign(*p, store.read(p->name));
    taken.insert(p->name);
  }
  for (const std::string& name : store.names())
    STRAND_CHECK(taken.count(name) || ignorable(name),
                 "{}: unexpected tensor '{}' (not a parameter of this model)", store.path(), printable(name));
}

std::unique_ptr<LlamaModel> load_hf_llama(const std::string& dir, const nn::Placement& placement) {
  const LlamaConfig config =
      llama_config_from_hf(read_hf_config(dir), (fs::path(dir) / "config.json").string());
  auto model = std::make_unique<LlamaModel>(config, placement);
  const TensorStore store = TensorStore::open(dir);
  load_parameters(model->parameters(), store, [&](const std::string& name) {
    // Older exports carry the rotary table as a buffer, and tied checkpoints sometimes keep a copy of the
    // head.
    return name.ends_with(".rotary_emb.inv_freq") || (config.tie_embeddings && name == "lm_head.weight");
  });
  return model;
}

namespace {

void check_export_dtype(DType weights_dtype) {
  STRAND_CHECK(weights_dtype == DType::F32 || weights_dtype == DType::BF16 || weights_dtype == DType::F16,
               "HF export writes F32, BF16 or F16 weights, not {}", dtype_name(weights_dtype));
}

// Writes the parameters (as weights_dtype) and `extra` tensors (as they are) with config.json into dir.
void save_hf_dir(const nn::ParameterList& params, std::vector<NamedTensor> extra,
                 const nlohmann::json& config, const std::string& dir, DType weights_dtype) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  STRAND_CHECK(!ec, "{}: cannot create directory: {}", dir, ec.message());
  std::vector<NamedTensor> tensors;
  for (nn::Parameter* p : params) tensors.push_back({p->name, p->value.to(Device::cpu()).to(weights_dtype)});
  for (NamedTensor& t : extra) tensors.push_back(std::move(t));
  save_tensor_store(dir, tensors, {{"format", "pt"}});
  write_file_atomic((fs::path(dir) / "config.json").string(), config.dump(2) + "\n");
}

std::string esm2_rotary_name(int64_t layer) {
  return fmt::format("esm.encoder.layer.{}.attention.self.rotary_embeddings.inv_freq", layer);
}

// transformers' table: 1 / 10000^(2i / head_dim), computed in F32 as it does.
Tensor esm2_inv_freq(const Esm2Config& c) {
  const int64_t d = c.head_dim();
  Tensor t = Tensor::empty({d / 2}, DType::F32);
  for (int64_t i = 0; i < d / 2; ++i)
    t.data<float>()[i] = 1.0f / std::pow(10000.0f, static_cast<float>(2 * i) / static_cast<float>(d));
  return t;
}

// A tensor the checkpoint holds besides the parameters must agree with what strand derives: a file whose
// rotary table (another theta or head size) or tied decoder differs describes another computation; bf16
// files round the table, hence a tolerance.
void check_matches(const TensorStore& store, const std::string& name, const Tensor& expected, double tol) {
  const Tensor got = store.read(name).to(DType::F32);
  const Tensor want = expected.to(Device::cpu()).to(DType::F32);
  STRAND_CHECK(got.shape() == want.shape(), "{}: tensor '{}' has shape {}, expected {}", store.path(), name,
               got.shape().str(), want.shape().str());
  for (int64_t i = 0; i < got.numel(); ++i) {
    const float a = got.data<float>()[i], b = want.data<float>()[i];
    STRAND_CHECK(std::abs(a - b) <= tol * std::max(1.0f, std::abs(b)),
                 "{}: tensor '{}' differs from what the model derives ({} against {} at element {})",
                 store.path(), name, a, b, i);
  }
}

}  // namespace

void save_hf_llama(LlamaModel& model, const std::string& dir, DType weights_dtype) {
  check_export_dtype(weights_dtype);
  save_hf_dir(model.parameters(), {}, llama_config_to_hf(model.config(), weights_dtype), dir, weights_dtype);
}

std::unique_ptr<Esm2Model> load_hf_esm2(const std::string& dir, const nn::Placement& placement) {
  const std::string config_path = (fs::path(dir) / "config.json").string();
  const Esm2Config config = esm2_config_from_hf(read_hf_config(dir), config_path);
  auto model = std::make_unique<Esm2Model>(config, placement);
  const TensorStore store = TensorStore::open(dir);
  const std::string contact_weight = "esm.contact_head.regression.weight";
  const std::string contact_bias = "esm.contact_head.regression.bias";
  load_parameters(model->parameters(), store, [&](const std::string& name) {
    return name == contact_weight || name == contact_bias || name == "esm.embeddings.position_ids" ||
           name.ends_with(".rotary_embeddings.inv_freq") ||
           (config.tie_embeddings && name == "lm_head.decoder.weight");
  });
  const Tensor inv_freq = esm2_inv_freq(config);
  // Older files keep a table per layer; transformers 5 one shared table.
  for (int64_t i = -1; i < config.num_layers; ++i) {
    const std::string name = i < 0 ? "esm.rotary_embeddings.inv_freq" : esm2_rotary_name(i);
    if (store.contains(name)) check_matches(store, name, inv_freq, 1e-2);
  }
  if (config.tie_embeddings && store.contains("lm_head.decoder.weight"))
    check_matches(store, "lm_head.decoder.weight", model->word_embeddings().value, 0.0);
  for (const auto& [name, target] : {std::pair{contact_weight, &model->contact_weight()},
                                     std::pair{contact_bias, &model->contact_bias()}}) {
    if (!store.contains(name)) continue;  // a checkpoint of the language model alone
    const TensorInfo& info = store.info(name);
    STRAND_CHECK(info.shape == target->shape(), "{}: tensor '{}' has shape {}, the model expects {}",
                 store.path(), name, info.shape.str(), target->shape().str());
    *target = store.read(name).to(DType::F32);
  }
  return model;
}

void save_hf_esm2(Esm2Model& model, const std::string& dir, DType weights_dtype) {
  check_export_dtype(weights_dtype);
  const Esm2Config& c = model.config();
  std::vector<NamedTensor> extra;
  const Tensor inv_freq = esm2_inv_freq(c);
  // The per-layer tables of the released checkpoints, which every transformers version reads (5.x maps them
  // onto its shared table).
  for (int64_t i = 0; i < c.num_layers; ++i) extra.push_back({esm2_rotary_name(i), inv_freq});
  extra.push_back({"esm.contact_head.regression.weight", model.contact_weight().to(weights_dtype)});
  extra.push_back({"esm.contact_head.regression.bias", model.contact_bias().to(weights_dtype)});
  save_hf_dir(model.parameters(), std::move(extra), esm2_config_to_hf(c, weights_dtype), dir, weights_dtype);
}

namespace {

// config.json's model_type, checked to be one strand implements.
std::string supported_model_type(const nlohmann::json& config, const std::string& source) {
  const std::string type =
      config.is_object() && config.contains("model_type") && config["model_type"].is_string()
          ? config["model_type"].get<std::string>()
          : "";
  STRAND_CHECK(type == "llama" || type == "esm",
               "{}: model_type '{}' is not supported (strand implements 'llama' and 'esm')", source, type);
  return type;
}

}  // namespace

std::unique_ptr<LanguageModel> model_from_hf_config(const nlohmann::json& config, const std::string& source,
                                                    const nn::Placement& placement) {
  if (supported_model_type(config, source) == "llama")
    return std::make_unique<LlamaModel>(llama_config_from_hf(config, source), placement);
  return std::make_unique<Esm2Model>(esm2_config_from_hf(config, source), placement);
}

std::unique_ptr<LanguageModel> load_hf_model(const std::string& dir, const nn::Placement& placement) {
  const std::string source = (fs::path(dir) / "config.json").string();
  if (supported_model_type(read_hf_config(dir), source) == "llama") return load_hf_llama(dir, placement);
  return load_hf_esm2(dir, placement);
}

void save_hf_model(LanguageModel& model, const std::string& dir, DType weights_dtype) {
  if (auto* llama = dynamic_cast<LlamaModel*>(&model)) return save_hf_llama(*llama, dir, weights_dtype);
  if (auto* esm2 = dynamic_cast<Esm2Model*>(&model)) return save_hf_esm2(*esm2, dir, weights_dtype);
  throw Error(fmt::format("HF export: no exporter for model arch '{}'", model.arch()));
}

}  // namespace strand::io
