#include "strand/cli/run.h"

#include "strand/cli/commands.h"
#include "strand/core/closest_match.h"
#include "strand/core/error.h"
#include "strand/core/json.h"

#include <fmt/format.h>

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

namespace strand::cli {
namespace {

// Usage errors (no subcommand, an unknown one) exit with 2, as a shell's builtins and Python's argparse do;
// errors of a subcommand that ran exit with 1.
constexpr int kUsageExit = 2;

std::vector<std::string> subcommand_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; }))
    names.push_back(sub->get_name());
  return names;
}

// The subcommand called `name`; null when there is none.
const CLI::App* find_subcommand(const CLI::App& app, const std::string& name) {
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; }))
    if (sub->check_name(name)) return sub;
  return nullptr;
}

// "unknown subcommand 'trian' (did you mean 'train'?)".
std::string unknown_subcommand(const CLI::App& app, const std::string& name) {
  const std::vector<std::string> names = subcommand_names(app);
  const std::optional<std::string> near = closest_match(name, names);
  return fmt::format("unknown subcommand '{}'{}; the subcommands are {}", printable(name),
                     near ? fmt::format(" (did you mean '{}'?)", *near) : std::string(),
                     fmt::join(names, ", "));
}

// `strand help [SUBCOMMAND]` and `strand version`: the help and the version as subcommands, since people type
// them as often as the flags.
void register_help_and_version(CLI::App& app) {
  auto command = std::make_shared<std::string>();
  CLI::App* help = app.add_subcommand("help", "print this help, or a subcommand's (strand help SUBCOMMAND)");
  help->add_option("subcommand", *command, "the subcommand to describe");
  help->callback([&app, command] {
    // App::help() of a parsed app describes the subcommand that ran (this one): the formatter describes the
    // app asked for.
    if (command->empty()) {
      fmt::print("{}", app.get_formatter()->make_help(&app, "strand", CLI::AppFormatMode::Normal));
      return;
    }
    const CLI::App* sub = find_subcommand(app, *command);
    STRAND_CHECK(sub != nullptr, "{}", unknown_subcommand(app, *command));
    fmt::print("{}",
               sub->get_formatter()->make_help(sub, "strand " + sub->get_name(), CLI::AppFormatMode::Normal));
  });
  app.add_subcommand("version", "print the version (as --version does)")->callback([] {
    fmt::print("strand {}\n", STRAND_VERSION);
  });
}

}  // namespace

int run(int argc, char** argv) {
  CLI::App app{"strand: train, fine-tune and run biological sequence models"};
  app.set_version_flag("--version", "strand " STRAND_VERSION);
  register_info(app);
  register_init(app);
  register_forward(app);
  register_generate(app);
  register_score(app);
  register_embed(app);
  register_preprocess(app);
  register_train(app);
  register_help_and_version(app);
  // The first argument names the subcommand unless it is a flag of strand itself (--help, --version):
  // checked here because the parser would only say that a subcommand is required.
  if (argc < 2) {
    fmt::print(
        stderr,
        "usage: strand SUBCOMMAND [OPTIONS]\nsubcommands: {}\n'strand help' describes them, 'strand help "
        "SUBCOMMAND' one of them\n",
        fmt::join(subcommand_names(app), ", "));
    return kUsageExit;
  }
  const std::string first = argv[1];
  if (!first.starts_with("-") && find_subcommand(app, first) == nullptr) {
    fmt::print(stderr, "strand: error: {}\n", unknown_subcommand(app, first));
    return kUsageExit;
  }
  app.require_subcommand(1);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const ExitStatus& e) {
    return e.code;
  } catch (const Error& e) {
    std::fprintf(stderr, "strand: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "strand: error: %s\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace strand::cli
