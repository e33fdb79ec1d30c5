#include "strand/interop/hf_checkpoint.h"

#include "strand/core/json.h"
#include "strand/io/atomic_file.h"
#include "strand/models/registry.h"

#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <set>

namespace strand::interop {

using io::NamedTensor;
using io::TensorInfo;
using io::TensorStore;

namespace fs = std::filesystem;

std::string hf_config_path(const std::string& dir) {
  return (fs::path(dir) / "config.json").string();
}

bool is_hf_model_directory(const std::string& dir) {
  return fs::exists(hf_config_path(dir));
}

nlohmann::json read_hf_config(const std::string& dir) {
  return read_json_file(hf_config_path(dir));
}

namespace {

// A stored tensor's metadata checked against the tensor it fills.
void check_fits(const TensorStore& store, const std::string& stored, const Shape& shape) {
  const TensorInfo& info = store.info(stored);
  STRAND_CHECK(info.shape == shape, "{}: tensor '{}' has shape {}, the model expects {}", store.path(),
               printable(stored), info.shape.str(), shape.str());
  STRAND_CHECK(dtype_is_float(info.dtype), "{}: tensor '{}' has dtype {}, expected a float type",
               store.path(), printable(stored), dtype_name(info.dtype));
}

// A tensor the checkpoint holds besides the parameters must agree with what the model derives.
void check_matches(const TensorStore& store, const std::string& name, const HfDerivedTensor& derived) {
  const Tensor got = store.read(name).to(DType::F32);
  const Tensor& want = derived.expected;
  STRAND_CHECK(got.shape() == want.shape(), "{}: tensor '{}' has shape {}, expected {}", store.path(),
               printable(name), got.shape().str(), want.shape().str());
  for (int64_t i = 0; i < got.numel(); ++i) {
    const float a = got.data<float>()[i], b = want.data<float>()[i];
    STRAND_CHECK(std::abs(a - b) <= derived.tolerance * std::max(1.0f, std::abs(b)),
                 "{}: tensor '{}' differs from what the model derives ({} against {} at element {})",
                 store.path(), printable(name), a, b, i);
  }
}

void check_export_dtype(DType weights_dtype) {
  STRAND_CHECK(weights_dtype == DType::F32 || weights_dtype == DType::BF16 || weights_dtype == DType::F16,
               "HF export writes F32, BF16 or F16 weights, not {}", dtype_name(weights_dtype));
}

// The stored name of every parameter or buffer of `model`, by its canonical name; the rest of the store
// checked against the family's derived tensors.
void load_tensors(LanguageModel& model, const ModelFamily& family, const TensorStore& store) {
  const nn::ParameterList params = model.parameters();
  const std::vector<ModelBuffer> buffers = model.buffers();
  std::set<std::string> wanted;
  for (const nn::Parameter* p : params) wanted.insert(p->name);
  for (const ModelBuffer& b : buffers) wanted.insert(b.name);
  std::map<std::string, std::string> stored_as;  // canonical -> stored
  std::vector<std::string> others;
  for (const std::string& stored : store.names()) {
    const std::string name = family.hf_canonical_name(stored);
    if (!wanted.count(name)) {
      others.push_back(stored);
      continue;
    }
    const auto [it, inserted] = stored_as.emplace(name, stored);
    STRAND_CHECK(inserted, "{}: tensors '{}' and '{}' both hold '{}'", store.path(), printable(it->second),
                 printable(stored), name);
  }
  for (nn::Parameter* p : params) {
    const auto it = stored_as.find(p->name);
    STRAND_CHECK(it != stored_as.end(), "{}: missing tensor '{}'", store.path(), p->name);
    check_fits(store, it->second, p->value.shape());
    nn::assign(*p, store.read(it->second));
  }
  for (const ModelBuffer& b : buffers) {
    const auto it = stored_as.find(b.name);
    if (it == stored_as.end()) continue;  // a checkpoint of the computation alone
    check_fits(store, it->second, b.value->shape());
    *b.value = store.read(it->second).to(DType::F32);
  }
  // After the parameters: a derived tensor may be a copy of one (a tied decoder).
  for (const std::string& stored : others) {
    const std::optional<HfDerivedTensor> derived =
        family.hf_derived_tensor(model, family.hf_canonical_name(stored));
    STRAND_CHECK(derived.has_value(), "{}: unexpected tensor '{}' (not a parameter of this model)",
                 store.path(), printable(stored));
    if (derived->expected.defined()) check_matches(store, stored, *derived);
  }
}

}  // namespace

void load_parameters(const nn::ParameterList& params, const TensorStore& store,
                     const std::function<bool(const std::string&)>& ignorable) {
  std::set<std::string> taken;
  for (nn::Parameter* p : params) {
    STRAND_CHECK(store.contains(p->name), "{}: missing tensor '{}'", store.path(), p->name);
    check_fits(store, p->name, p->value.shape());
    nn::assign(*p, store.read(p->name));
    taken.insert(p->name);
  }
  for (const std::string& name : store.names())
    STRAND_CHECK(taken.count(name) || ignorable(name),
                 "{}: unexpected tensor '{}' (not a parameter of this model)", store.path(), printable(name));
}

std::unique_ptr<LanguageModel> model_from_hf_config(const nlohmann::json& config, const std::string& source,
                                                    const nn::Placement& placement) {
  const std::string type =
      config.is_object() && config.contains("model_type") && config["model_type"].is_string()
          ? config["model_type"].get<std::string>()
          : "";
  return model_family_for_hf_type(type, source).from_hf_config(config, source, placement);
}

std::unique_ptr<LanguageModel> load_hf_model(const std::string& dir, const nn::Placement& placement) {
  const std::string source = (fs::path(dir) / "config.json").string();
  auto model = model_from_hf_config(read_hf_config(dir), source, placement);
  load_tensors(*model, model_family_of(*model), TensorStore::open(dir));
  return model;
}

void save_hf_model(LanguageModel& model, const std::string& dir, DType weights_dtype) {
  check_export_dtype(weights_dtype);
  const ModelFamily& family = model_family_of(model);
  const nlohmann::json config = family.to_hf_config(model, weights_dtype);
  std::error_code ec;
  fs::create_directories(dir, ec);
  STRAND_CHECK(!ec, "{}: cannot create directory: {}", dir, ec.message());
  std::vector<NamedTensor> tensors;
  for (nn::Parameter* p : model.parameters())
    tensors.push_back({p->name, p->value.to(Device::cpu()).to(weights_dtype)});
  for (auto& [name, t] : family.hf_extra_tensors(model)) tensors.push_back({name, t});
  for (const ModelBuffer& b : model.buffers()) tensors.push_back({b.name, b.value->to(weights_dtype)});
  io::save_tensor_store(dir, tensors, {{"format", "pt"}});
  io::write_file_atomic((fs::path(dir) / "config.json").string(), config.dump(2) + "\n");
}

}  // namespace strand::interop
