#include "strand/io/hf_checkpoint.h"

#include "strand/io/atomic_file.h"
#include "strand/io/hf_llama_config.h"
#include "strand/io/json.h"

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

void save_hf_llama(LlamaModel& model, const std::string& dir, DType weights_dtype) {
  STRAND_CHECK(weights_dtype == DType::F32 || weights_dtype == DType::BF16 || weights_dtype == DType::F16,
               "HF export writes F32, BF16 or F16 weights, not {}", dtype_name(weights_dtype));
  std::error_code ec;
  fs::create_directories(dir, ec);
  STRAND_CHECK(!ec, "{}: cannot create directory: {}", dir, ec.message());
  std::vector<NamedTensor> tensors;
  for (nn::Parameter* p : model.parameters())
    tensors.push_back({p->name, p->value.to(Device::cpu()).to(weights_dtype)});
  save_tensor_store(dir, tensors, {{"format", "pt"}});
  write_file_atomic((fs::path(dir) / "config.json").string(),
                    llama_config_to_hf(model.config(), weights_dtype).dump(2) + "\n");
}

}  // namespace strand::io
