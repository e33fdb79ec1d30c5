// strand init: a freshly initialised model written as a HF directory (config.json + model.safetensors).
#include "strand/cli/commands.h"
#include "strand/core/json.h"
#include "strand/interop/hf_checkpoint.h"
#include "strand/models/registry.h"

#include <fmt/format.h>

namespace strand::cli {
namespace {

struct InitOptions {
  std::string arch;
  std::string config;
  uint64_t seed = 0;
  std::string out;
  std::string dtype = "f32";
};

DType weights_dtype(const std::string& name) {
  if (name == "f32") return DType::F32;
  if (name == "bf16") return DType::BF16;
  STRAND_CHECK(false, "--dtype must be f32 or bf16, got '{}'", name);
}

void run_init(const InitOptions& o) {
  if (!o.arch.empty()) model_family(o.arch, "--arch");
  const auto model = interop::model_from_hf_config(read_json_file(o.config), o.config);
  STRAND_CHECK(o.arch.empty() || o.arch == model->arch(), "--arch {}: {} is a {} config", o.arch, o.config,
               model->arch());
  model->init(o.seed);
  interop::save_hf_model(*model, o.out, weights_dtype(o.dtype));
  int64_t count = 0;
  for (const nn::Parameter* p : model->parameters()) count += p->value.numel();
  fmt::print("strand init: {} parameters (seed {}) written to {}\n", count, o.seed, o.out);
}

}  // namespace

void register_init(CLI::App& app) {
  auto opts = std::make_shared<InitOptions>();
  CLI::App* cmd = app.add_subcommand("init", "write a randomly initialised model as a HF directory");
  cmd->add_option("--arch", opts->arch,
                  fmt::format("model architecture, one of {} (default: the config's model_type)",
                              fmt::join(model_archs(), ", ")));
  cmd->add_option("--config", opts->config, "HF-style config.json describing the model")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--seed", opts->seed, "initialisation seed")->capture_default_str();
  cmd->add_option("--out", opts->out, "output directory")->required();
  cmd->add_option("--dtype", opts->dtype, "weights dtype in the export: f32 or bf16")->capture_default_str();
  cmd->callback([opts] { run_init(*opts); });
}

}  // namespace strand::cli
