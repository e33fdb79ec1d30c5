#include "strand/cli/commands.h"
#include "strand/core/error.h"

#include <cstdio>
#include <exception>

int main(int argc, char** argv) {
  CLI::App app{"strand: train, fine-tune and run biological sequence models"};
  app.set_version_flag("--version", "strand " STRAND_VERSION);
  app.require_subcommand(1);
  strand::cli::register_info(app);
  strand::cli::register_init(app);
  strand::cli::register_forward(app);
  strand::cli::register_generate(app);
  strand::cli::register_score(app);
  strand::cli::register_embed(app);
  strand::cli::register_preprocess(app);
  strand::cli::register_train(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const strand::Error& e) {
    std::fprintf(stderr, "strand: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "strand: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
