// `strand info PATH`: what a checkpoint holds, read from its headers only (no tensor data is loaded), so it
// answers instantly for multi-GB files and doubles as a validity check: a malformed file is an error naming
// it.
#include "strand/cli/commands.h"
#include "strand/core/error.h"
#include "strand/core/json.h"
#include "strand/data/indexed_dataset.h"
#include "strand/io/checkpoint_dir.h"
#include "strand/models/registry.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace strand::cli {
namespace {

struct InfoOptions {
  std::string path;
  size_t limit = 50;
  bool all = false;
};

// "1.23B": the scale people quote model sizes in.
std::string human_count(uint64_t n) {
  constexpr std::array<std::pair<double, const char*>, 4> kUnits{
      {{1e12, "T"}, {1e9, "B"}, {1e6, "M"}, {1e3, "K"}}};
  for (const auto& [scale, suffix] : kUnits) {
    if (static_cast<double>(n) >= scale)
      return fmt::format("{:.2f}{}", static_cast<double>(n) / scale, suffix);
  }
  return std::to_string(n);
}

// The registered family that reads config.json files of this model_type.
std::string family_line(const std::string& model_type) {
  if (const ModelFamily* f = find_model_family_for_hf_type(model_type))
    return fmt::format("family: {}, {}; {} objective, {} tokenizer by default", f->arch(), f->description(),
                       f->objective() == Objective::causal ? "causal" : "masked", f->default_tokenizer());
  return fmt::format("family: none reads model_type '{}' (strand implements {})", printable(model_type),
                     fmt::join(model_archs(), ", "));
}

// "model: llama (LlamaForCausalLM)" from a transformers config.json, and the strand family that reads it.
std::string describe_config(const std::filesystem::path& config_path) {
  const nlohmann::json config = read_json_file(config_path.string());
  STRAND_CHECK(config.is_object(), "{}: config is {}, not an object", config_path.string(),
               config.type_name());
  const auto model_type = config.find("model_type");
  const std::string type = model_type != config.end() && model_type->is_string()
                               ? printable(model_type->get<std::string>())
                               : std::string("unknown model_type");
  std::vector<std::string> architectures;
  const auto arch = config.find("architectures");
  if (arch != config.end() && arch->is_array()) {
    for (const nlohmann::json& a : *arch) {
      if (a.is_string()) architectures.push_back(printable(a.get<std::string>()));
    }
  }
  const std::string family = family_line(
      model_type != config.end() && model_type->is_string() ? model_type->get<std::string>() : "");
  if (architectures.empty()) return fmt::format("model: {}\n{}", type, family);
  return fmt::format("model: {} ({})\n{}", type, fmt::join(architectures, ", "), family);
}

// A Megatron dataset prefix (PATH.idx exists, or PATH names the .idx/.bin): documents, tokens, length range.
bool describe_dataset(const std::string& path) {
  std::string prefix = path;
  for (const char* ext : {".idx", ".bin"})
    if (prefix.ends_with(ext)) prefix.resize(prefix.size() - 4);
  if (!std::filesystem::exists(prefix + ".idx")) return false;
  const data::IndexedDataset ds = data::IndexedDataset::open(prefix);
  uint64_t shortest = UINT64_MAX, longest = 0;
  for (uint64_t i = 0; i < ds.size(); ++i) {
    shortest = std::min(shortest, ds.length(i));
    longest = std::max(longest, ds.length(i));
  }
  fmt::print("dataset: {} (Megatron indexed, {})\n", prefix, dtype_name(ds.dtype()));
  fmt::print("documents: {}\ntokens: {} ({})\n", ds.size(), ds.total_tokens(),
             human_count(ds.total_tokens()));
  if (ds.size() > 0) fmt::print("document length: {} to {}\n", shortest, longest);
  return true;
}

// A training checkpoint (step_N directory): its step, tokens seen and data position, before the tensors.
void describe_trainer_state(const std::filesystem::path& state_path) {
  const nlohmann::json state = read_json_file(state_path.string());
  if (!state.is_object()) return;
  auto field = [&](const char* key) { return state.contains(key) ? state.at(key).dump() : std::string("?"); };
  fmt::print("checkpoint: step {}, {} tokens consumed, loader at {}\n", field("step"),
             field("consumed_tokens"), field("loader"));
}

constexpr const char* kWhatInfoReads =
    "strand info reads a safetensors file, a model or checkpoint directory (model.safetensors or "
    "model.safetensors.index.json inside), a .index.json, or a Megatron dataset prefix (PATH.idx + PATH.bin)";

constexpr const char* kUnrecognised = "something else";

// What a file that is no safetensors file looks like, from its first bytes: "FASTA", "gzip-compressed".
std::string looks_like(const std::string& head) {
  if (head.starts_with("\x1f\x8b")) return "gzip-compressed data";
  if (head.starts_with("\x28\xb5\x2f\xfd")) return "zstd-compressed data";
  if (head.starts_with("\xfd\x37zXZ")) return "xz-compressed data";
  if (head.starts_with("PK\x03\x04")) return "a zip archive (a PyTorch .pt/.bin checkpoint?)";
  if (head.starts_with(">") || head.starts_with(";")) return "FASTA";
  if (head.starts_with("@")) return "FASTQ";
  if (head.starts_with("{") || head.starts_with("[")) return "JSON";
  return kUnrecognised;
}

// A safetensors file begins with its header's length (8 bytes, little-endian) and the header, a JSON object.
// A file that does not is reported as what it is not, and what info reads, rather than as a header the
// safetensors parser could not make sense of. A file too short to hold a header goes to the parser, which
// says so, unless it is recognisably something else.
void check_looks_like_safetensors(const std::string& path) {
  if (!std::filesystem::is_regular_file(path) || path.ends_with(".index.json")) return;
  std::ifstream in(path, std::ios::binary);
  std::string head(9, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(in.gcount()));
  if (head.size() == 9 ? head[8] == '{' : looks_like(head) == kUnrecognised) return;
  throw Error(fmt::format("{}: not a safetensors file (it looks like {}), nor a model directory; {}", path,
                          looks_like(head), kWhatInfoReads));
}

void run_info(const InfoOptions& options) {
  if (describe_dataset(options.path)) return;
  check_looks_like_safetensors(options.path);
  if (std::filesystem::is_directory(options.path)) {
    const std::filesystem::path dir(options.path);
    STRAND_CHECK(std::filesystem::exists(dir / "model.safetensors") ||
                     std::filesystem::exists(dir / "model.safetensors.index.json"),
                 "{}: a directory without model.safetensors or model.safetensors.index.json; {}",
                 options.path, kWhatInfoReads);
  }
  const std::filesystem::path state_path = std::filesystem::path(options.path) / "trainer_state.json";
  if (std::filesystem::exists(state_path)) describe_trainer_state(state_path);
  const io::TensorStore store = io::TensorStore::open(options.path);
  const std::vector<std::string> names = store.names();

  uint64_t parameters = 0;
  std::map<std::string_view, size_t> dtype_counts;
  for (const std::string& name : names) {
    const io::TensorInfo& t = store.info(name);
    parameters += static_cast<uint64_t>(t.shape.numel());
    ++dtype_counts[dtype_name(t.dtype)];
  }
  std::vector<std::string> dtypes;
  for (const auto& [dtype, count] : dtype_counts) dtypes.push_back(fmt::format("{} x{}", dtype, count));
  std::vector<std::string> metadata_keys;
  for (const auto& [key, value] : store.metadata()) metadata_keys.push_back(printable(key));

  const std::filesystem::path config_path = std::filesystem::path(options.path) / "config.json";
  if (std::filesystem::is_directory(options.path) && std::filesystem::exists(config_path)) {
    fmt::print("{}\n", describe_config(config_path));
  }
  const size_t shards = store.shards().size();
  fmt::print("file: {}{}\n", store.path(), shards > 1 ? fmt::format(" ({} shards)", shards) : "");
  fmt::print("tensors: {}\n", names.size());
  fmt::print("parameters: {} ({})\n", parameters, human_count(parameters));
  fmt::print("dtypes: {}\n", dtypes.empty() ? "none" : fmt::format("{}", fmt::join(dtypes, ", ")));
  fmt::print("metadata: {}\n",
             metadata_keys.empty() ? "none" : fmt::format("{}", fmt::join(metadata_keys, ", ")));

  const size_t rows = options.all ? names.size() : std::min(options.limit, names.size());
  for (size_t i = 0; i < rows; ++i) {
    const io::TensorInfo& t = store.info(names[i]);
    fmt::print("{} {} {}\n", printable(t.name), dtype_name(t.dtype), t.shape.str());
  }
  if (rows < names.size()) fmt::print("... {} more (--all to list every tensor)\n", names.size() - rows);
}

}  // namespace

void register_info(CLI::App& app) {
  auto options = std::make_shared<InfoOptions>();
  CLI::App* cmd = app.add_subcommand("info", "what a model, checkpoint or dataset holds");
  cmd->add_option("path", options->path, "safetensors file, model or checkpoint directory, or dataset prefix")
      ->required();
  cmd->add_option("--limit", options->limit, "tensors to list")->capture_default_str();
  cmd->add_flag("--all", options->all, "list every tensor");
  cmd->callback([options] { run_info(*options); });
}

}  // namespace strand::cli
