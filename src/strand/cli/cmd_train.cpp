// strand train: a recipe (YAML, selected by --config-name or path) plus key=value overrides.
#include "strand/cli/commands.h"
#include "strand/train/trainer.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>

namespace strand::cli {
namespace {

struct TrainOptions {
  std::string config_name;
  std::vector<std::string> overrides;
  bool help_config = false, print_config = false, list_recipes = false;
};

// configs/ under the working directory, then $STRAND_CONFIG_PATH (colon-separated), then the source tree's.
std::vector<std::string> recipe_dirs() {
  std::vector<std::string> dirs{"configs"};
  if (const char* env = std::getenv("STRAND_CONFIG_PATH")) {
    std::string rest = env;
    for (size_t pos; (pos = rest.find(':')) != std::string::npos; rest = rest.substr(pos + 1))
      dirs.push_back(rest.substr(0, pos));
    if (!rest.empty()) dirs.push_back(rest);
  }
  dirs.push_back(STRAND_SOURCE_DIR "/configs");
  return dirs;
}

void print_recipes() {
  const std::vector<RecipeEntry> recipes = list_recipes(recipe_dirs());
  size_t width = 0;
  for (const RecipeEntry& r : recipes) width = std::max(width, r.name.size());
  for (const RecipeEntry& r : recipes) fmt::print("{:<{}}  {}  ({})\n", r.name, width, r.description, r.path);
}

void run_train(const TrainOptions& o) {
  if (o.list_recipes) {
    print_recipes();
    return;
  }
  TrainConfig config;
  ConfigSchema schema;
  load_train_config(config, schema, o.config_name.empty() ? "" : resolve_recipe(o.config_name, recipe_dirs()),
                    o.overrides);
  if (o.help_config) {
    fmt::print("{}", schema.help());
    return;
  }
  if (o.print_config) {
    fmt::print("{}", schema.to_yaml());
    return;
  }
  install_stop_handlers();
  const TrainResult r = train(config, schema);
  // A signal's run ends with the shell's code for death by that signal, so that a scheduler sees it did not
  // finish; its checkpoint is exact and checkpoint.resume=true continues it.
  if (r.stop_signal != 0) throw ExitStatus{128 + r.stop_signal};
  if (r.interrupted) return;
  if (r.steps_run == 0) {
    fmt::print("strand train: nothing to train: the checkpoint is at train.max_steps={}\n", r.final_step);
  } else {
    fmt::print("strand train: {} steps, final train loss {:.4f}", r.final_step, r.final_train_loss);
    if (!std::isnan(r.final_val_loss))
      fmt::print(", validation loss {:.4f} (unigram entropy of the validation targets {:.4f})",
                 r.final_val_loss, r.val_unigram_entropy);
    if (r.skipped_steps > 0)
      fmt::print(" ({} updates skipped for a non-finite gradient norm)", r.skipped_steps);
    fmt::print("\n");
  }
  if (!r.checkpoint.empty()) fmt::print("checkpoint: {}\n", r.checkpoint);
  if (!r.export_dir.empty()) fmt::print("HF export: {}\n", r.export_dir);
}

}  // namespace

void register_train(CLI::App& app) {
  auto opts = std::make_shared<TrainOptions>();
  CLI::App* cmd = app.add_subcommand("train", "train or fine-tune a model from a recipe");
  cmd->add_option(
      "--config-name,--config", opts->config_name,
      "recipe: a name in configs/ (e.g. llama_demo) or a YAML path; without it, the built-in defaults");
  cmd->add_option("overrides", opts->overrides, "key.sub=value overrides (+key=value, ++key=value, ~key)");
  cmd->add_flag("--help-config", opts->help_config,
                "list every config field with its default and description; the model.* fields are those of "
                "the family that model.arch names (in the recipe or an override)");
  cmd->add_flag(
      "--print-config", opts->print_config,
      "print the resolved config (the recipe with the overrides applied) as a YAML recipe and exit");
  cmd->add_flag("--list-recipes", opts->list_recipes,
                "list the recipes --config-name finds (configs/, $STRAND_CONFIG_PATH, the built-in ones)");
  cmd->callback([opts] { run_train(*opts); });
}

}  // namespace strand::cli
