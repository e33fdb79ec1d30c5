// The model families strand knows, by recipe name (model.arch) and by config.json model_type.
//
// The built-in families are registered on first use, one line each in registry.cpp; register_model_family
// adds another (a test-only family, say) before it is looked up. Lookups are errors that list the registered
// names and suggest the closest. Registration is not thread-safe: register at start-up, before any thread
// looks families up.
#pragma once

#include "strand/models/model_family.h"

#include <memory>
#include <string>
#include <vector>

namespace strand {

// The family whose arch() is `arch`; an error naming `what` (the key or option it came from) otherwise.
const ModelFamily& model_family(const std::string& arch, const std::string& what = "model.arch");
// The family whose hf_model_type() is `model_type`, or nullptr.
const ModelFamily* find_model_family_for_hf_type(const std::string& model_type);
// The same, an error naming `source` (a config.json) when there is none.
const ModelFamily& model_family_for_hf_type(const std::string& model_type, const std::string& source);
// The family of a model (by its arch()).
const ModelFamily& model_family_of(const LanguageModel& model);
// Every registered family, in registration order.
std::vector<const ModelFamily*> model_families();
// The registered archs, in registration order.
std::vector<std::string> model_archs();

// Adds a family. REQUIRES: its arch and model_type are not registered yet (else strand::Error).
void register_model_family(std::unique_ptr<ModelFamily> family);

}  // namespace strand
