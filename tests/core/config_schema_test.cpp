#include "strand/core/config_schema.h"

#include "strand/core/error.h"

#include "expect_error.h"
#include "temp_dir.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

namespace strand {
namespace {

using testing::error_of;

namespace fs = std::filesystem;
using Strings = std::vector<std::string>;

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

void write_text(const std::string& file, const std::string& text) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << text;
  ASSERT_TRUE(out.good()) << file;
}

// Values bound to the schema below, each first set to something no default equals.
struct Values {
  int64_t seed = -77;
  std::string optimizer_name = "garbage";
  double lr = -1;
  double weight_decay = -1;
  int64_t max_steps = -1;
  bool compile = true;
  std::string run_name = "garbage";
  Strings paths = {"garbage"};
  int64_t num_heads = -1;
};

const char* const kKeys[] = {
    "seed",          "optimizer.name", "optimizer.lr", "optimizer.weight_decay",   "train.max_steps",
    "train.compile", "train.run_name", "data.paths",   "model.attention.num_heads"};

class ConfigTest : public testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    add_fields(schema_, v_);
  }

  static void add_fields(ConfigSchema& schema, Values& v) {
    schema.add("seed", &v.seed, 1234, "random seed");
    schema.add_choice("optimizer.name", &v.optimizer_name, "adamw", {"adamw", "sgd", "lion"},
                      "which optimizer");
    schema.add("optimizer.lr", &v.lr, 5e-4, "peak learning rate");
    schema.add("optimizer.weight_decay", &v.weight_decay, 0.1, "decoupled weight decay");
    schema.add("train.max_steps", &v.max_steps, 1000, "optimizer steps to run");
    schema.add("train.compile", &v.compile, false, "fuse kernels");
    schema.add("train.run_name", &v.run_name, "", "name shown in logs");
    schema.add("data.paths", &v.paths, {"a.fa"}, "FASTA files to train on");
    schema.add("model.attention.num_heads", &v.num_heads, 8, "attention heads");
  }

  std::string yaml_error(const std::string& text) {
    return error_of([&] { schema_.load_yaml_string(text, "x.yaml"); });
  }
  std::string override_error(const std::string& text) {
    return error_of([&] { schema_.apply_override(text); });
  }

  Values v_;
  ConfigSchema schema_;
};

TEST_F(ConfigTest, DefaultsAppliedAtAdd) {
  EXPECT_EQ(v_.seed, 1234);
  EXPECT_EQ(v_.optimizer_name, "adamw");
  EXPECT_EQ(v_.lr, 5e-4);
  EXPECT_EQ(v_.weight_decay, 0.1);
  EXPECT_EQ(v_.max_steps, 1000);
  EXPECT_FALSE(v_.compile);
  EXPECT_EQ(v_.run_name, "");
  EXPECT_EQ(v_.paths, Strings{"a.fa"});
  EXPECT_EQ(v_.num_heads, 8);
  for (const char* key : kKeys) EXPECT_FALSE(schema_.is_set(key)) << key;
}

TEST_F(ConfigTest, YamlNestedAndFlatKeys) {
  schema_.load_yaml_string(R"(
seed: 7
optimizer:
  name: sgd
  lr: 1e-3
train.max_steps: 50
model:
  attention.num_heads: 16
data:
  paths:
    - x.fa
    - y.fa
)",
                           "x.yaml");
  EXPECT_EQ(v_.seed, 7);
  EXPECT_EQ(v_.optimizer_name, "sgd");
  EXPECT_EQ(v_.lr, 1e-3);
  EXPECT_EQ(v_.max_steps, 50);
  EXPECT_EQ(v_.num_heads, 16);
  EXPECT_EQ(v_.paths, (Strings{"x.fa", "y.fa"}));
  EXPECT_EQ(v_.weight_decay, 0.1);  // not mentioned: default kept
  EXPECT_TRUE(schema_.is_set("optimizer.lr"));
  EXPECT_TRUE(schema_.is_set("model.attention.num_heads"));
  EXPECT_FALSE(schema_.is_set("optimizer.weight_decay"));
  EXPECT_FALSE(schema_.is_set("train.compile"));
}

TEST_F(ConfigTest, YamlScalarForms) {
  schema_.load_yaml_string(R"(
seed: -3
optimizer: {lr: 2, weight_decay: "5e-4"}
train:
  compile: true
  run_name: 123
data:
  paths: [one, 'two, three']
)",
                           "x.yaml");
  EXPECT_EQ(v_.seed, -3);
  EXPECT_EQ(v_.lr, 2.0);             // an integer is a valid float
  EXPECT_EQ(v_.weight_decay, 5e-4);  // a quoted number still parses
  EXPECT_TRUE(v_.compile);
  EXPECT_EQ(v_.run_name, "123");  // strings keep scalars as written
  EXPECT_EQ(v_.paths, (Strings{"one", "two, three"}));

  schema_.load_yaml_string("optimizer.lr: .5\ntrain.run_name: ~\ndata.paths:\n", "x.yaml");
  EXPECT_EQ(v_.lr, 0.5);
  EXPECT_EQ(v_.run_name, "");  // null is the empty string
  EXPECT_EQ(v_.paths, Strings{});
  schema_.load_yaml_string("train.run_name: 'null'\n", "x.yaml");
  EXPECT_EQ(v_.run_name, "null");  // a quoted null is the string
}

TEST_F(ConfigTest, YamlEmptyDocumentsAndSections) {
  schema_.load_yaml_string("", "x.yaml");
  schema_.load_yaml_string("# nothing yet\n", "x.yaml");
  schema_.load_yaml_string("optimizer:\ntrain: {}\n", "x.yaml");
  EXPECT_EQ(v_.lr, 5e-4);
  EXPECT_FALSE(schema_.is_set("optimizer.lr"));
}

TEST_F(ConfigTest, YamlFile) {
  write_text(path("r.yaml"), "train:\n  max_steps: 9\n  compile: nope\n");
  const std::string message = error_of([&] { schema_.load_yaml_file(path("r.yaml")); });
  EXPECT_EQ(message, path("r.yaml") + ":3: 'train.compile' must be true or false, got 'nope'");
  EXPECT_EQ(v_.max_steps, 9);

  const std::string missing = error_of([&] { schema_.load_yaml_file(path("none.yaml")); });
  EXPECT_EQ(missing.rfind(path("none.yaml") + ": cannot open", 0), 0u) << missing;
}

TEST_F(ConfigTest, OverridesOfEachType) {
  schema_.apply_override("train.max_steps=20");
  schema_.apply_override("seed=-5");
  schema_.apply_override("optimizer.lr=5e-5");
  schema_.apply_override("optimizer.weight_decay=0");
  schema_.apply_override("train.compile=true");
  schema_.apply_override("train.run_name=a=b=c");  // everything after the first '='
  schema_.apply_override("optimizer.name=lion");
  schema_.apply_override("data.paths=[x.fa, y.fa ,z.fa]");
  EXPECT_EQ(v_.max_steps, 20);
  EXPECT_EQ(v_.seed, -5);
  EXPECT_EQ(v_.lr, 5e-5);
  EXPECT_EQ(v_.weight_decay, 0.0);
  EXPECT_TRUE(v_.compile);
  EXPECT_EQ(v_.run_name, "a=b=c");
  EXPECT_EQ(v_.optimizer_name, "lion");
  EXPECT_EQ(v_.paths, (Strings{"x.fa", "y.fa", "z.fa"}));
  for (const char* key : kKeys) {
    if (std::string(key) != "model.attention.num_heads") {
      EXPECT_TRUE(schema_.is_set(key)) << key;
    }
  }

  schema_.apply_override("train.compile=false");
  EXPECT_FALSE(v_.compile);
  schema_.apply_override("train.run_name='quoted value'");
  EXPECT_EQ(v_.run_name, "quoted value");
  schema_.apply_override("train.run_name=null");
  EXPECT_EQ(v_.run_name, "");
}

TEST_F(ConfigTest, ListOverrideForms) {
  schema_.apply_override("data.paths=[]");
  EXPECT_EQ(v_.paths, Strings{});
  schema_.apply_override("data.paths=only.fa");
  EXPECT_EQ(v_.paths, Strings{"only.fa"});
  schema_.apply_override("data.paths=['a,b', \"c d\" , e]");
  EXPECT_EQ(v_.paths, (Strings{"a,b", "c d", "e"}));
  schema_.apply_override("data.paths=");
  EXPECT_EQ(v_.paths, Strings{});
  EXPECT_EQ(override_error("data.paths=[a,b"), "override 'data.paths=[a,b': list value must end with ']'");
  EXPECT_EQ(
      override_error("data.paths=[a,,b]"),
      "override 'data.paths=[a,,b]': empty element 2 in list (quote it as '' to mean the empty string)");
  EXPECT_EQ(override_error("data.paths=[[a]]"),
            "override 'data.paths=[[a]]': nested lists are not supported");
}

TEST_F(ConfigTest, PlusFormsAndReset) {
  schema_.load_yaml_string("optimizer:\n  lr: 1e-2\n  weight_decay: 0.5\n", "x.yaml");
  schema_.apply_override("+train.max_steps=3");
  schema_.apply_override("++optimizer.lr=2e-2");
  schema_.apply_override("+data.paths=[p]");
  EXPECT_EQ(v_.max_steps, 3);
  EXPECT_EQ(v_.lr, 2e-2);
  EXPECT_EQ(v_.paths, Strings{"p"});

  schema_.apply_override("~optimizer.lr");
  EXPECT_EQ(v_.lr, 5e-4);
  EXPECT_FALSE(schema_.is_set("optimizer.lr"));
  EXPECT_EQ(v_.weight_decay, 0.5);
  schema_.apply_override("~data.paths");
  EXPECT_EQ(v_.paths, Strings{"a.fa"});

  schema_.apply_override("~optimizer");  // a whole section
  EXPECT_EQ(v_.weight_decay, 0.1);
  EXPECT_FALSE(schema_.is_set("optimizer.weight_decay"));
  EXPECT_EQ(v_.max_steps, 3);

  EXPECT_EQ(override_error("++optimizer.lrr=1"),
            "override '++optimizer.lrr=1': unknown key 'optimizer.lrr' (did you mean 'optimizer.lr'?)");
  EXPECT_EQ(override_error("~optimizer.lrr"),
            "override '~optimizer.lrr': unknown key 'optimizer.lrr' (did you mean 'optimizer.lr'?)");
}

TEST_F(ConfigTest, MalformedOverrides) {
  EXPECT_EQ(override_error("train.max_steps"),
            "override 'train.max_steps': expected KEY=VALUE, +KEY=VALUE, ++KEY=VALUE or ~KEY");
  EXPECT_EQ(override_error("=3"), "override '=3': missing key before '='");
  EXPECT_EQ(override_error("~"), "override '~': missing key after '~'");
  EXPECT_EQ(override_error("~train.max_steps=3"),
            "override '~train.max_steps=3': '~KEY' resets KEY to its default and takes no value");
  // Control characters stay escaped, so the message keeps to one line.
  EXPECT_EQ(override_error("a\nb=1"), "override 'a\\x0ab=1': unknown key 'a\\x0ab'");
}

TEST_F(ConfigTest, UnknownKeySuggestsClosest) {
  EXPECT_EQ(yaml_error("seed: 1\noptimizer:\n  lrr: 1e-3\n"),
            "x.yaml:3: unknown key 'optimizer.lrr' (did you mean 'optimizer.lr'?)");
  EXPECT_EQ(yaml_error("optimzer:\n  lr: 1e-3\n"),
            "x.yaml:1: unknown key 'optimzer' (did you mean 'optimizer'?)");
  EXPECT_EQ(override_error("train.max_step=5"),
            "override 'train.max_step=5': unknown key 'train.max_step' (did you mean 'train.max_steps'?)");
  // The right name in the wrong section.
  EXPECT_EQ(override_error("lr=1"), "override 'lr=1': unknown key 'lr' (did you mean 'optimizer.lr'?)");
  // Nothing close: no suggestion.
  EXPECT_EQ(override_error("completely.different=1"),
            "override 'completely.different=1': unknown key 'completely.different'");
  EXPECT_EQ(error_of([&] { (void)schema_.is_set("seeed"); }), "unknown key 'seeed' (did you mean 'seed'?)");
}

TEST_F(ConfigTest, WrongTypes) {
  EXPECT_EQ(override_error("train.max_steps=abc"),
            "override 'train.max_steps=abc': 'train.max_steps' must be an integer, got 'abc'");
  EXPECT_EQ(override_error("train.max_steps=3.5"),
            "override 'train.max_steps=3.5': 'train.max_steps' must be an integer, got '3.5'");
  EXPECT_EQ(override_error("train.max_steps=1e6"),
            "override 'train.max_steps=1e6': 'train.max_steps' must be an integer, got '1e6'");
  EXPECT_EQ(
      override_error("train.max_steps=99999999999999999999"),
      "override 'train.max_steps=99999999999999999999': 'train.max_steps' must be a 64-bit integer, got "
      "'99999999999999999999' (out of range)");
  EXPECT_EQ(override_error("train.compile=maybe"),
            "override 'train.compile=maybe': 'train.compile' must be true or false, got 'maybe'");
  EXPECT_EQ(override_error("train.compile=yes"),
            "override 'train.compile=yes': 'train.compile' must be true or false, got 'yes'");
  EXPECT_EQ(override_error("optimizer.lr=fast"),
            "override 'optimizer.lr=fast': 'optimizer.lr' must be a number, got 'fast'");
  EXPECT_EQ(
      override_error("optimizer.lr=1e400"),
      "override 'optimizer.lr=1e400': 'optimizer.lr' must be a number, got '1e400' (out of double range)");
  EXPECT_EQ(override_error("optimizer.lr=null"),
            "override 'optimizer.lr=null': 'optimizer.lr' must be a number, got null");

  EXPECT_EQ(yaml_error("train:\n  max_steps: 3.5\n"),
            "x.yaml:2: 'train.max_steps' must be an integer, got '3.5'");
  EXPECT_EQ(yaml_error("train:\n  max_steps: [1, 2]\n"),
            "x.yaml:2: 'train.max_steps' must be an integer, got a list");
  EXPECT_EQ(yaml_error("train.run_name: [a]\n"), "x.yaml:1: 'train.run_name' must be a string, got a list");
  EXPECT_EQ(yaml_error("data.paths: abc\n"), "x.yaml:1: 'data.paths' must be a list of strings, got 'abc'");
  EXPECT_EQ(yaml_error("data.paths:\n  - a\n  - [b]\n"),
            "x.yaml:3: 'data.paths' must be a list of strings, got a list as element 2");
  // A failed override leaves the value unchanged.
  EXPECT_EQ(v_.max_steps, 1000);
  EXPECT_FALSE(schema_.is_set("train.max_steps"));
}

TEST_F(ConfigTest, ChoiceViolationListsChoices) {
  EXPECT_EQ(
      override_error("optimizer.name=adam"),
      "override 'optimizer.name=adam': 'optimizer.name' must be one of [adamw, sgd, lion], got 'adam' (did "
      "you mean 'adamw'?)");
  EXPECT_EQ(yaml_error("optimizer:\n  name: rmsprop\n"),
            "x.yaml:2: 'optimizer.name' must be one of [adamw, sgd, lion], got 'rmsprop'");
  EXPECT_EQ(v_.optimizer_name, "adamw");
}

TEST_F(ConfigTest, YamlSyntaxErrorNamesLine) {
  EXPECT_EQ(yaml_error("seed: 1\noptimizer: [1, 2\ntrain: 3\n"),
            "x.yaml:3: invalid YAML: end of sequence flow not found");
  const std::string bad_indent = yaml_error("seed: 1\ntrain:\n  max_steps: 1\n   compile: true\n");
  EXPECT_EQ(bad_indent.rfind("x.yaml:4: invalid YAML: ", 0), 0u) << bad_indent;
}

TEST_F(ConfigTest, DuplicateYamlKey) {
  EXPECT_EQ(yaml_error("train:\n  max_steps: 1\n  max_steps: 2\n"),
            "x.yaml:3: duplicate key 'train.max_steps' (first given at line 2)");
  EXPECT_EQ(yaml_error("train.max_steps: 1\ntrain:\n  max_steps: 2\n"),
            "x.yaml:3: duplicate key 'train.max_steps' (first given at line 1)");
  EXPECT_EQ(yaml_error("optimizer: {lr: 1}\nseed: 2\noptimizer: {weight_decay: 0}\n"),
            "x.yaml:3: duplicate key 'optimizer' (first given at line 1)");
  EXPECT_EQ(yaml_error("{seed: 1, seed: 2}"), "x.yaml:1: duplicate key 'seed' (first given at line 1)");
}

TEST_F(ConfigTest, SectionVersusValue) {
  EXPECT_EQ(yaml_error("seed: 1\n\noptimizer: 3\n"), "x.yaml:3: 'optimizer' is a section, not a value");
  EXPECT_EQ(yaml_error("model:\n  attention: [a]\n"),
            "x.yaml:2: 'model.attention' is a section, not a value");
  EXPECT_EQ(yaml_error("optimizer:\n  lr:\n    peak: 1\n"),
            "x.yaml:2: 'optimizer.lr' is a value, not a section");
  EXPECT_EQ(override_error("optimizer=3"), "override 'optimizer=3': 'optimizer' is a section, not a value");
  EXPECT_EQ(override_error("optimizer.lr.peak=3"),
            "override 'optimizer.lr.peak=3': 'optimizer.lr' is a value, not a section");
}

TEST_F(ConfigTest, TopLevelMustBeOneMapping) {
  EXPECT_EQ(yaml_error("- a\n- b\n"),
            "x.yaml:1: the top level must be a mapping of keys to values, got a list");
  EXPECT_EQ(yaml_error("just text\n"),
            "x.yaml:1: the top level must be a mapping of keys to values, got a scalar");
  EXPECT_EQ(yaml_error("seed: 1\n---\nseed: 2\n"), "x.yaml:3: a recipe is one YAML document, found 2");
  EXPECT_EQ(yaml_error("optimizer:\n  <<: {lr: 1}\n"), "x.yaml:2: YAML merge keys ('<<') are not supported");
}

TEST_F(ConfigTest, JsonRoundTrip) {
  schema_.load_yaml_string("optimizer: {name: lion, lr: 3e-4}\ndata.paths: [p, q]\n", "x.yaml");
  schema_.apply_override("train.max_steps=77");
  schema_.apply_override("train.run_name=run \"1\"");
  const nlohmann::json j = schema_.to_json();

  EXPECT_TRUE(j["seed"].is_number_integer());
  EXPECT_TRUE(j["optimizer"]["lr"].is_number_float());
  EXPECT_TRUE(j["train"]["compile"].is_boolean());
  EXPECT_EQ(j["train"]["max_steps"], 77);
  EXPECT_EQ(j["optimizer"]["name"], "lion");
  EXPECT_EQ(j["data"]["paths"], nlohmann::json::array({"p", "q"}));
  EXPECT_EQ(j["model"]["attention"]["num_heads"], 8);

  // Through text, as a checkpoint stores it, into a fresh schema.
  Values restored;
  ConfigSchema schema2;
  add_fields(schema2, restored);
  schema2.load_json(nlohmann::json::parse(j.dump()), "trainer_state.json");
  EXPECT_EQ(restored.optimizer_name, "lion");
  EXPECT_EQ(restored.lr, 3e-4);
  EXPECT_EQ(restored.max_steps, 77);
  EXPECT_EQ(restored.run_name, "run \"1\"");
  EXPECT_EQ(restored.paths, (Strings{"p", "q"}));
  EXPECT_EQ(restored.seed, 1234);
  EXPECT_TRUE(schema2.is_set("train.max_steps"));
  EXPECT_EQ(schema2.to_json(), j);
}

TEST_F(ConfigTest, LoadJsonIsStrict) {
  const auto json_error = [&](const char* text) {
    return error_of([&] { schema_.load_json(nlohmann::json::parse(text), "state.json"); });
  };
  EXPECT_EQ(json_error(R"({"train": {"max_steps": 3.5}})"),
            "state.json: 'train.max_steps' must be an integer, got 3.5");
  EXPECT_EQ(json_error(R"({"train": {"max_steps": "3"}})"),
            "state.json: 'train.max_steps' must be an integer, got \"3\"");
  EXPECT_EQ(json_error(R"({"train": {"compile": 1}})"),
            "state.json: 'train.compile' must be true or false, got 1");
  EXPECT_EQ(json_error(R"({"data": {"paths": ["a", 2]}})"),
            "state.json: 'data.paths' must be an array of strings, got 2 at index 1");
  EXPECT_EQ(
      json_error(R"({"optimizer": {"name": "adam"}})"),
      "state.json: 'optimizer.name' must be one of [adamw, sgd, lion], got 'adam' (did you mean 'adamw'?)");
  EXPECT_EQ(json_error(R"({"optimizer": {"lrr": 1}})"),
            "state.json: unknown key 'optimizer.lrr' (did you mean 'optimizer.lr'?)");
  EXPECT_EQ(json_error(R"({"optimizer": 1})"), "state.json: 'optimizer' is a section, not a value");
  EXPECT_EQ(json_error(R"({"seed": {"x": 1}})"), "state.json: 'seed' is a value, not a section");
  EXPECT_EQ(json_error("[1]"), "state.json: expected a JSON object of config values, got an array");
  EXPECT_EQ(json_error(R"({"train": {"max_steps": 9223372036854775808}})"),
            "state.json: 'train.max_steps' must be a 64-bit integer, got 9223372036854775808 (out of range)");
  // A float field takes an integer.
  schema_.load_json(nlohmann::json::parse(R"({"optimizer": {"lr": 1}})"), "state.json");
  EXPECT_EQ(v_.lr, 1.0);
}

TEST_F(ConfigTest, HelpListsEveryKeyGroupedAndAligned) {
  const std::string help = schema_.help();
  std::vector<std::string> lines;
  std::istringstream in(help);
  for (std::string line; std::getline(in, line);) lines.push_back(line);

  const Strings docs = {"random seed",
                        "which optimizer",
                        "peak learning rate",
                        "decoupled weight decay",
                        "optimizer steps to run",
                        "fuse kernels",
                        "name shown in logs",
                        "FASTA files to train on",
                        "attention heads"};
  size_t last_position = 0;
  size_t paren_column = std::string::npos;
  for (size_t i = 0; i < std::size(kKeys); ++i) {
    SCOPED_TRACE(kKeys[i]);
    const std::string key = kKeys[i];
    // Each field on its own line holding its key, type/default and doc, in schema order.
    const auto line = std::find_if(lines.begin(), lines.end(),
                                   [&](const std::string& l) { return l.rfind("  " + key + " ", 0) == 0; });
    ASSERT_NE(line, lines.end()) << help;
    EXPECT_TRUE(contains(*line, docs[i])) << *line;
    const size_t position = static_cast<size_t>(line - lines.begin());
    EXPECT_GT(position + 1, last_position);
    last_position = position + 1;
    // The type column lines up.
    const size_t column = line->find('(');
    if (paren_column == std::string::npos) paren_column = column;
    EXPECT_EQ(column, paren_column) << *line;
  }
  EXPECT_TRUE(contains(help, "  optimizer.lr  ")) << help;
  EXPECT_TRUE(contains(help, "(float, default 0.0005)")) << help;
  EXPECT_TRUE(contains(help, "(adamw|sgd|lion, default adamw)")) << help;
  EXPECT_TRUE(contains(help, "(list, default [a.fa])")) << help;
  EXPECT_TRUE(contains(help, "(string, default \"\")")) << help;
  EXPECT_TRUE(contains(help, "(bool, default false)")) << help;
  // Sections head their groups; the top-level field comes first without one.
  EXPECT_EQ(lines.front().rfind("  seed ", 0), 0u) << help;
  for (const char* section : {"optimizer:", "train:", "data:", "model.attention:"})
    EXPECT_NE(std::find(lines.begin(), lines.end(), section), lines.end()) << section << "\n" << help;
  EXPECT_EQ(help, schema_.help());  // deterministic
}

TEST(ConfigSchemaTest, RejectsBadSchemas) {
  ConfigSchema schema;
  int64_t a = 0, b = 0;
  std::string s;
  schema.add("x.y", &a, 1, "");
  EXPECT_EQ(error_of([&] { schema.add("x.y", &b, 1, ""); }), "config schema: key 'x.y' added twice");
  EXPECT_EQ(error_of([&] { schema.add("x", &b, 1, ""); }),
            "config schema: 'x' is already a section, so it cannot be a field");
  EXPECT_EQ(error_of([&] { schema.add("x.y.z", &b, 1, ""); }),
            "config schema: 'x.y' is a field, so 'x.y.z' cannot be under it");
  EXPECT_EQ(error_of([&] { schema.add("x..z", &b, 1, ""); }),
            "config schema: invalid key 'x..z' (dotted segments of [A-Za-z0-9_-])");
  EXPECT_EQ(error_of([&] {
              schema.add_choice("c", &s, "d", {"a", "b"}, "");
            }),
            "config schema: default 'd' of 'c' is not one of [a, b]");
  EXPECT_EQ(error_of([&] { schema.add("n", static_cast<int64_t*>(nullptr), 1, ""); }),
            "config schema: 'n' has no target");
}

class ResolveRecipeTest : public testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    fs::create_directories(dir_ / "first");
    fs::create_directories(dir_ / "second");
    write_text(path("first/llama.yaml"), "seed: 1\n");
    write_text(path("second/llama.yaml"), "seed: 2\n");
    write_text(path("second/esm2.yaml"), "seed: 3\n");
    write_text(path("second/notes.txt"), "not a recipe\n");
    write_text(path("elsewhere.yaml"), "seed: 4\n");
    dirs_ = {path("missing"), path("first"), path("second")};
  }
  Strings dirs_;
};

TEST_F(ResolveRecipeTest, ByNameByFileNameAndByPath) {
  EXPECT_EQ(resolve_recipe("llama", dirs_), path("first/llama.yaml"));  // the first directory wins
  EXPECT_EQ(resolve_recipe("esm2", dirs_), path("second/esm2.yaml"));
  EXPECT_EQ(resolve_recipe("esm2.yaml", dirs_), path("second/esm2.yaml"));
  EXPECT_EQ(resolve_recipe("notes.txt", dirs_), path("second/notes.txt"));
  EXPECT_EQ(resolve_recipe(path("elsewhere.yaml"), dirs_), path("elsewhere.yaml"));
  const std::string relative = fs::relative(path("elsewhere.yaml")).string();  // not under any search dir
  EXPECT_EQ(resolve_recipe(relative, dirs_), relative);
}

TEST_F(ResolveRecipeTest, ListsAvailableOnFailure) {
  EXPECT_EQ(error_of([&] { resolve_recipe("lama", dirs_); }),
            "recipe 'lama' not found (available: esm2, llama)");
  EXPECT_EQ(error_of([&] { resolve_recipe("first", dirs_); }),
            "recipe 'first' not found (available: esm2, llama)");  // a directory is not a recipe
  EXPECT_EQ(error_of([&] { resolve_recipe("x", {path("missing")}); }),
            "recipe 'x' not found (no *.yaml recipes in: " + path("missing") + ")");
  EXPECT_EQ(error_of([&] { resolve_recipe("x", {}); }), "recipe 'x' not found (no recipe directories given)");
}

}  // namespace
}  // namespace strand
