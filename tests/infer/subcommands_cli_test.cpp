// The `strand` binary's subcommands as a user meets them: a misspelt one is named with the closest real one,
// `help` and `version` work as subcommands as well as flags, and no subcommand at all prints the usage.
#include "run_strand.h"
#include "temp_dir.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace strand::cli {
namespace {

using testing::RunResult;

class SubcommandsCliTest : public testing::TempDirTest {
 protected:
  RunResult run(const std::vector<std::string>& args) const {
    return testing::run_strand(args, dir_.string());
  }
};

TEST_F(SubcommandsCliTest, AMisspeltSubcommandIsNamedWithTheClosestOne) {
  const RunResult r = run({"trian", "train.max_steps=1"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(
      r.err.rfind("strand: error: unknown subcommand 'trian' (did you mean 'train'?); the subcommands are "
                  "info, init, forward, generate, score, embed, preprocess, train, help, version\n",
                  0),
      0u)
      << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  const RunResult far = run({"frobnicate"});
  EXPECT_EQ(far.exit_code, 2);
  EXPECT_EQ(far.err.rfind("strand: error: unknown subcommand 'frobnicate'; the subcommands are ", 0), 0u)
      << far.err;
  EXPECT_NE(run({"scroe"}).err.find("(did you mean 'score'?)"), std::string::npos);
}

TEST_F(SubcommandsCliTest, HelpPrintsTheHelpOfStrandOrOfASubcommand) {
  const RunResult help = run({"help"});
  EXPECT_EQ(help.exit_code, 0) << help.err;
  EXPECT_EQ(help.err, "");
  // What --help prints, with the binary's path as the name it was run by.
  std::string flag = run({"--help"}).out;
  const std::string usage_of_path = "Usage: " + testing::strand_binary() + " ";
  ASSERT_NE(flag.find(usage_of_path), std::string::npos) << flag;
  flag.replace(flag.find(usage_of_path), usage_of_path.size(), "Usage: strand ");
  EXPECT_EQ(help.out, flag);
  EXPECT_NE(help.out.find("Usage: strand [OPTIONS] SUBCOMMAND"), std::string::npos) << help.out;
  for (const char* sub : {"train", "score", "generate", "embed", "info", "help", "version"})
    EXPECT_NE(help.out.find(std::string("\n  ") + sub + " "), std::string::npos) << sub << "\n" << help.out;

  const RunResult score = run({"help", "score"});
  EXPECT_EQ(score.exit_code, 0) << score.err;
  EXPECT_NE(score.out.find("Usage: strand score [OPTIONS]"), std::string::npos) << score.out;
  EXPECT_NE(score.out.find("--model"), std::string::npos) << score.out;
  EXPECT_EQ(score.out.find("Subcommands:"), std::string::npos) << score.out;

  const RunResult unknown = run({"help", "scroe"});
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_EQ(unknown.out, "");
  EXPECT_EQ(unknown.err.rfind("strand: error: unknown subcommand 'scroe' (did you mean 'score'?)", 0), 0u)
      << unknown.err;
}

TEST_F(SubcommandsCliTest, VersionAsSubcommandAndFlag) {
  for (const char* arg : {"version", "--version"}) {
    const RunResult r = run({arg});
    EXPECT_EQ(r.exit_code, 0) << arg << r.err;
    EXPECT_EQ(r.out, std::string("strand ") + STRAND_VERSION + "\n") << arg;
    EXPECT_EQ(r.err, "") << arg;
  }
}

TEST_F(SubcommandsCliTest, NoSubcommandPrintsTheUsageAndFails) {
  const RunResult r = run({});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err.rfind("usage: strand SUBCOMMAND [OPTIONS]\nsubcommands: info, init, ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("'strand help' describes them"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace strand::cli
