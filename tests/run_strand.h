// Running the strand binary from tests, as a user would, with its exit code and output captured.
#pragma once

#include "test_paths.h"

#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace strand::testing {

struct RunResult {
  int exit_code = -1;
  std::string out, err;
};

// Runs the strand binary (strand_binary()) with `args`, each single-quoted for the shell (test paths hold no
// quotes); stdout and stderr go through files in `scratch_dir`.
inline RunResult run_strand(const std::vector<std::string>& args, const std::string& scratch_dir) {
  std::string command = "'";
  command += strand_binary();
  command += "'";
  for (const std::string& a : args) command += " '" + a + "'";
  const std::string out = scratch_dir + "/stdout.txt", err = scratch_dir + "/stderr.txt";
  command += " >'" + out + "' 2>'" + err + "'";
  const int status = std::system(command.c_str());
  auto read = [](const std::string& file) {
    std::ifstream in(file, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  };
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read(out);
  r.err = read(err);
  return r;
}

// Runs the strand binary under script(1), which gives it a pseudo-terminal: what it wrote to either stream,
// as a terminal shows it, comes back in `out`. REQUIRES: /usr/bin/script (callers skip without it).
inline RunResult run_strand_on_terminal(const std::vector<std::string>& args,
                                        const std::string& scratch_dir) {
  std::string command = "'";
  command += strand_binary();
  command += "'";
  for (const std::string& a : args) command += " '" + a + "'";
  const std::string log = scratch_dir + "/terminal.log";
  const std::string run = "/usr/bin/script -qec \"" + command + "\" /dev/null >'" + log + "' 2>&1 </dev/null";
  const int status = std::system(run.c_str());
  std::ifstream in(log, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = text.str();
  return r;
}

}  // namespace strand::testing
