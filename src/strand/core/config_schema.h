// One configuration system for every command: a schema of typed fields, each with a default and a
// description, filled from a YAML recipe and then from command-line overrides, Hydra style:
//   key.sub=value    set a field
//   +key.sub=value   set a field the recipe does not mention
//   ++key.sub=value  set a field whether or not the recipe mentions it
//   ~key.sub         reset a field to its default (~section resets every field under it)
//   lists as x=[a,b,c]
// Hydra requires a plain key=value to name a key the recipe holds; here every field of the schema always
// exists (holding its default), so all three setting forms only require the key to be in the schema and
// behave the same. The value is everything after the first '=' ("a.b=x=y" sets "x=y").
//
// An unknown key, or a value of the wrong type, is an error (strand::Error, one line) that names the source
// (file and line, the override, or the JSON source) and the key, and suggests the closest valid key:
//   configs/llama.yaml:12: unknown key 'optimizer.lrr' (did you mean 'optimizer.lr'?)
//   override 'train.max_steps=abc': 'train.max_steps' must be an integer, got 'abc'
//
// Values, in YAML and in overrides alike:
//   int     a decimal integer with optional sign ("3", "-1"); not "3.5", "1e6" or "abc"
//   float   an integer or a decimal/scientific number ("2", "0.5", ".5", "1e-3", "5e-4"); no inf or nan
//   bool    true or false (also True/TRUE/False/FALSE); not yes/no/on/off
//   string  any scalar, as written ("123" stays "123"); YAML null ("~", "null", nothing) or an override's
//           "null" gives the empty string
//   list    a YAML sequence of scalars; in an override [a,b,c] (elements trimmed; quote one to keep a
//           comma: ['a,b',c]), [] or an empty value for the empty list, a bare scalar for one element
//   choice  a string that must be one of the listed choices
// Numbers and booleans may be quoted in YAML ("1e-3") and still parse. In overrides one pair of matching
// quotes around the value is removed. A YAML section may be left empty ("optimizer:" with nothing under it).
// YAML keys may be nested mappings or dotted ("optimizer: {lr: 1e-3}" and "optimizer.lr: 1e-3" are the same
// key); a key given twice in one document, in either spelling, is an error.
//
// Not thread-safe; a schema is built and filled on one thread. It stores pointers to the bound variables,
// which must outlive it.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace strand {

// The values a numeric field accepts, checked whenever it is set (file, override or JSON) with an error
// naming the key: "'train.log_every' must be >= 1, got 0". Bounds are inclusive unless said otherwise.
struct NumericRange {
  std::optional<double> min, max;
  bool min_exclusive = false, max_exclusive = false;

  static NumericRange at_least(double lo) { return {lo, std::nullopt, false, false}; }
  static NumericRange above(double lo) { return {lo, std::nullopt, true, false}; }
  static NumericRange between(double lo, double hi) { return {lo, hi, false, false}; }
  static NumericRange from_below(double lo, double hi) { return {lo, hi, false, true}; }  // [lo, hi)

  bool contains(double v) const;
  std::string str() const;  // ">= 1", "in [0, 1)", ...
};

class ConfigSchema {
 public:
  ConfigSchema();
  ~ConfigSchema();
  ConfigSchema(const ConfigSchema&) = delete;
  ConfigSchema& operator=(const ConfigSchema&) = delete;

  // Binds a field to a variable, which is set to the default now and to parsed values later.
  // Keys are dotted paths ("optimizer.lr") of segments made of letters, digits, '_' and '-'.
  // REQUIRES: each key once, and no key is a section of another ("optimizer" and "optimizer.lr" cannot both
  // be fields). Violations throw strand::Error.
  void add(const std::string& key, int64_t* target, int64_t default_value, const std::string& doc);
  void add(const std::string& key, double* target, double default_value, const std::string& doc);
  // Numeric fields restricted to `range` (shown by help()). REQUIRES: the default is in the range.
  void add(const std::string& key, int64_t* target, int64_t default_value, NumericRange range,
           const std::string& doc);
  void add(const std::string& key, double* target, double default_value, NumericRange range,
           const std::string& doc);
  void add(const std::string& key, bool* target, bool default_value, const std::string& doc);
  void add(const std::string& key, std::string* target, const std::string& default_value,
           const std::string& doc);
  void add(const std::string& key, std::vector<std::string>* target,
           const std::vector<std::string>& default_value, const std::string& doc);
  // A string restricted to `choices` (checked when set). REQUIRES: `default_value` is one of `choices`.
  void add_choice(const std::string& key, std::string* target, const std::string& default_value,
                  const std::vector<std::string>& choices, const std::string& doc);

  // From now on a key the schema lacks is skipped instead of being an error, in files, overrides and JSON
  // alike. For reading a few fields of a recipe before the rest of its schema is known: model.arch decides
  // which model.* fields exist.
  void skip_unknown_keys();

  // Reads a YAML mapping (nested sections map to dotted keys). An empty document changes nothing. Errors name
  // the file and line ("configs/x.yaml:3: 'optimizer' is a section, not a value"). Fields are set in document
  // order, so on error the ones before the bad entry keep their new values.
  void load_yaml_file(const std::string& path);
  void load_yaml_string(const std::string& text, const std::string& source_name);
  // Applies one command-line override ("a.b=1", "+a.b=1", "++a.b=1", "~a.b"). Errors start with
  // "override '<text>': ".
  void apply_override(const std::string& override_text);
  // Applies overrides in order (later ones win).
  void apply_overrides(const std::vector<std::string>& overrides);

  // Every field with its type, default and description, one per line, grouped by section in the order the
  // sections first appear in the schema, fields in the order they were added, columns aligned:
  //   optimizer:
  //     optimizer.lr    (float, default 0.0005)     peak learning rate
  //     optimizer.name  (adamw|sgd, default adamw)  which optimizer
  // Top-level fields (no section) come first, without a heading; a blank line separates groups. A type and
  // default wider than 40 characters (a long list) is not padded to.
  std::string help() const;
  // The current values of the bound variables as nested JSON objects with typed values (ints as integers,
  // floats as numbers, lists as arrays of strings), for checkpoints and logs.
  nlohmann::json to_json() const;
  // The current values as a YAML recipe (nested sections, every field), which load_yaml_string reads back to
  // the same values: what `strand train --print-config` prints and a run directory keeps as config.yaml.
  std::string to_yaml() const;
  // Reads an object written by to_json() back (restoring a config from a checkpoint), as strictly as YAML:
  // every key must be in the schema and every value of the field's JSON type (an int field takes a JSON
  // integer, a float field any number, a list field an array of strings). Keys absent from `values` keep
  // their current values. Errors start with "<source_name>: ".
  void load_json(const nlohmann::json& values, const std::string& source_name);
  // True if the field was set by a file, override or load_json() since it was added or last reset with ~key
  // (even to a value equal to its default). REQUIRES: `key` is a field of the schema (else strand::Error).
  bool is_set(const std::string& key) const;
  // Every field's key, in the order added.
  std::vector<std::string> keys() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Finds a recipe: `name_or_path` if it names an existing file; otherwise, in each of `search_dirs` in order
// (the repository's configs/ and $STRAND_CONFIG_PATH entries), DIR/NAME then DIR/NAME.yaml; the first
// existing file wins. Directories that do not exist are skipped. The error lists the *.yaml stems found
// directly in the search directories, sorted: "recipe 'x' not found (available: a, b, c)".
std::string resolve_recipe(const std::string& name_or_path, const std::vector<std::string>& search_dirs);

// The recipes resolve_recipe finds by name: each *.yaml directly in `search_dirs`, the first directory
// holding a name winning, sorted by name, with the recipe's first comment line as its description.
struct RecipeEntry {
  std::string name, path, description;
};
std::vector<RecipeEntry> list_recipes(const std::vector<std::string>& search_dirs);

}  // namespace strand
