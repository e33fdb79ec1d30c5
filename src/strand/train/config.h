// One configuration system for every command: a schema of typed fields, each with a default and a description,
// filled from a YAML recipe and then from command-line overrides, Hydra style:
//   key.sub=value    set a field (the key must exist in the schema)
//   +key.sub=value   set a field the recipe does not mention (it must still exist in the schema)
//   ++key.sub=value  set it whether or not the recipe mentions it
//   ~key.sub         reset a field to its default
//   lists as x=[a,b,c]
// An unknown key, or a value of the wrong type, is an error that names the key (and the source: file and line, or
// the override) and suggests the closest valid key.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace strand {

class ConfigSchema {
 public:
  ConfigSchema();
  ~ConfigSchema();
  ConfigSchema(const ConfigSchema&) = delete;
  ConfigSchema& operator=(const ConfigSchema&) = delete;

  // Binds a field to a variable, which is set to the default now and to parsed values later.
  // Keys are dotted paths ("optimizer.lr"); REQUIRES: each key once, and no key is a prefix section of another.
  void add(const std::string& key, int64_t* target, int64_t default_value, const std::string& doc);
  void add(const std::string& key, double* target, double default_value, const std::string& doc);
  void add(const std::string& key, bool* target, bool default_value, const std::string& doc);
  void add(const std::string& key, std::string* target, const std::string& default_value, const std::string& doc);
  void add(const std::string& key, std::vector<std::string>* target, const std::vector<std::string>& default_value,
           const std::string& doc);
  // A string restricted to `choices` (checked when set).
  void add_choice(const std::string& key, std::string* target, const std::string& default_value,
                  const std::vector<std::string>& choices, const std::string& doc);

  // Reads a YAML mapping (nested sections map to dotted keys). Errors name the file and line.
  void load_yaml_file(const std::string& path);
  void load_yaml_string(const std::string& text, const std::string& source_name);
  // Applies one command-line override ("a.b=1", "+a.b=1", "++a.b=1", "~a.b").
  void apply_override(const std::string& override_text);

  // Every field with its type, default and description, one per line, grouped by section.
  std::string help() const;
  // The current values as nested JSON (for checkpoints and logs); load_json() reads such an object back.
  nlohmann::json to_json() const;
  void load_json(const nlohmann::json& values, const std::string& source_name);
  // True if the field was set by a file or override (not left at its default).
  bool is_set(const std::string& key) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Finds a recipe: an existing path, or NAME / NAME.yaml under the recipe directories (the repository's configs/
// and $STRAND_CONFIG_PATH entries). Error lists the recipes available.
std::string resolve_recipe(const std::string& name_or_path, const std::vector<std::string>& search_dirs);

}  // namespace strand
