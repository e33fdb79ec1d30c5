// The `strand` command line as a function, so that programs and tests that add model families of their own
// (models/registry.h) run the same commands the binary does.
#pragma once

namespace strand::cli {

// Parses argv (argv[0] is the program name) and runs the subcommand. Returns the process exit code: 0 on
// success, 1 after printing a strand error as one line on stderr, CLI11's code for a usage error.
int run(int argc, char** argv);

}  // namespace strand::cli
