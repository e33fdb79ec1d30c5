#include "strand/cli/run.h"

#include "strand/cli/commands.h"
#include "strand/core/error.h"

#include <cstdio>
#include <exception>

namespace strand::cli {

int run(int argc, char** argv) {
  CLI::App app{"strand: train, fine-tune and run biological sequence models"};
  app.set_version_flag("--version", "strand " STRAND_VERSION);
  app.require_subcommand(1);
  register_info(app);
  register_init(app);
  register_forward(app);
  register_generate(app);
  register_score(app);
  register_embed(app);
  register_preprocess(app);
  register_train(app);
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
