#include "strand/models/registry.h"

#include "strand/core/closest_match.h"
#include "strand/core/error.h"
#include "strand/core/json.h"
#include "strand/models/esm2/family.h"
#include "strand/models/llama/family.h"

#include <fmt/format.h>

namespace strand {
namespace {

struct Registry {
  std::vector<std::unique_ptr<ModelFamily>> families;

  void add(std::unique_ptr<ModelFamily> family) {
    STRAND_CHECK(family != nullptr, "model registry: no family given");
    for (const auto& f : families) {
      STRAND_CHECK(f->arch() != family->arch(), "model registry: arch '{}' is registered twice",
                   family->arch());
      STRAND_CHECK(f->hf_model_type() != family->hf_model_type(),
                   "model registry: model_type '{}' is claimed by '{}' and '{}'", family->hf_model_type(),
                   f->arch(), family->arch());
    }
    families.push_back(std::move(family));
  }
};

Registry& registry() {
  static Registry* const r = [] {
    auto* created = new Registry;  // never destroyed: families may be looked up during exit
    // The built-in families, one line each.
    created->add(make_llama_family());
    created->add(make_esm2_family());
    return created;
  }();
  return *r;
}

std::string listed(const std::vector<std::string>& names) {
  return fmt::format("{}", fmt::join(names, ", "));
}

}  // namespace

const ModelFamily& model_family(const std::string& arch, const std::string& what) {
  for (const auto& f : registry().families)
    if (f->arch() == arch) return *f;
  const std::vector<std::string> archs = model_archs();
  const std::optional<std::string> guess = closest_match(arch, archs);
  throw Error(fmt::format("{}: unknown model architecture '{}'{} (available: {})", what, printable(arch),
                          guess ? fmt::format(", did you mean '{}'?", *guess) : "", listed(archs)));
}

const ModelFamily* find_model_family_for_hf_type(const std::string& model_type) {
  for (const auto& f : registry().families)
    if (f->hf_model_type() == model_type) return f.get();
  return nullptr;
}

const ModelFamily& model_family_for_hf_type(const std::string& model_type, const std::string& source) {
  if (const ModelFamily* f = find_model_family_for_hf_type(model_type)) return *f;
  std::vector<std::string> types;
  for (const auto& f : registry().families) types.push_back(f->hf_model_type());
  throw Error(fmt::format("{}: model_type '{}' is not supported (strand implements {})", source,
                          printable(model_type), listed(types)));
}

const ModelFamily& model_family_of(const LanguageModel& model) {
  return model_family(model.arch(), "model");
}

std::vector<const ModelFamily*> model_families() {
  std::vector<const ModelFamily*> out;
  for (const auto& f : registry().families) out.push_back(f.get());
  return out;
}

std::vector<std::string> model_archs() {
  std::vector<std::string> out;
  for (const auto& f : registry().families) out.push_back(f->arch());
  return out;
}

void register_model_family(std::unique_ptr<ModelFamily> family) {
  registry().add(std::move(family));
}

std::optional<HfDerivedTensor> ModelFamily::hf_derived_tensor(LanguageModel&, const std::string&) const {
  return std::nullopt;
}

std::vector<std::pair<std::string, Tensor>> ModelFamily::hf_extra_tensors(LanguageModel&) const {
  return {};
}

}  // namespace strand
