#include "strand/io/stale_temporaries.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "temp_dir.h"

namespace strand::io {
namespace {

// The pid of a child that has exited and been reaped: no process has it (until the kernel reuses it).
pid_t dead_pid() {
  const pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);
  return child;
}

TEST(StaleTemporaries, RecognisesOnlyAtomicFileNames) {
  EXPECT_EQ(atomic_temporary_pid(".config.yaml.tmp.4242.7"), 4242);
  EXPECT_EQ(atomic_temporary_pid(".a.tmp.1.0"), 1);
  for (const char* other : {"config.yaml", ".config.yaml.tmp.x.0", ".config.yaml.tmp.12", ".tmp.12.0",
                            "config.yaml.tmp.12.0", ".config.yaml.tmp.0.3", ".c.tmp.12.3x"})
    EXPECT_FALSE(atomic_temporary_pid(other).has_value()) << other;
}

class StaleTemporariesDir : public testing::TempDirTest {};

TEST_F(StaleTemporariesDir, RemovesThoseOfGoneWritersAndKeepsTheRest) {
  const pid_t gone = dead_pid();
  const std::string stale = ".metrics.jsonl.tmp." + std::to_string(gone) + ".0";
  const std::string live = ".config.yaml.tmp.1.0";  // pid 1 runs as long as the system does
  for (const std::string& name : {stale, live, std::string("config.yaml")}) std::ofstream(path(name)) << "x";
  EXPECT_EQ(remove_stale_temporaries(dir_.string()), 1);
  EXPECT_EQ(files(), (std::set<std::string>{live, "config.yaml"}));
  EXPECT_EQ(remove_stale_temporaries(path("absent")), 0);
}

}  // namespace
}  // namespace strand::io
