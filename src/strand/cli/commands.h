// Subcommands of the `strand` binary. Each registers itself on the CLI11 app and runs through the callback it
// sets; errors propagate as strand::Error and main() prints them as one line.
#pragma once

#include <CLI/CLI.hpp>

namespace strand::cli {

// Thrown by a subcommand that has said what happened and ends with a status other than 0 that is no error
// (a training run stopped by a signal): cli::run returns `code`.
struct ExitStatus {
  int code;
};

void register_info(CLI::App& app);
void register_init(CLI::App& app);
void register_forward(CLI::App& app);
void register_generate(CLI::App& app);
void register_score(CLI::App& app);
void register_embed(CLI::App& app);
void register_preprocess(CLI::App& app);
void register_train(CLI::App& app);

}  // namespace strand::cli
