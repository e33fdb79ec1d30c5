// Progress of `strand score` and `strand embed`: a line redrawn in place on a terminal (run here under
// script(1), which gives the command a pseudo-terminal), and nothing when stderr is a file or a pipe.
#include "strand/interop/hf_checkpoint.h"

#include "infer/tiny_llama.h"
#include "io/file_bytes.h"
#include "run_strand.h"
#include "temp_dir.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace strand::infer {
namespace {

using testing::RunResult;

class ProgressCliTest : public testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    LlamaModel model(testing::tiny_llama_config());
    model.init(6);
    interop::save_hf_model(model, path("model"));
    std::ofstream in(path("in.fa"));
    for (int i = 0; i < 40; ++i) in << ">r" << i << "\nACGTTGCAACGT\n";
  }
  std::vector<std::string> score_args() const {
    return {"score",    "--model",       path("model"),    "--input", path("in.fa"),
            "--output", path("out.tsv"), "--batch-tokens", "14"};
  }
};

TEST_F(ProgressCliTest, NothingWhenStderrIsNotATerminal) {
  const RunResult score = testing::run_strand(score_args(), dir_.string());
  ASSERT_EQ(score.exit_code, 0) << score.err;
  EXPECT_EQ(score.err.rfind("strand score: 40 records, ", 0), 0u) << score.err;
  EXPECT_EQ(std::count(score.err.begin(), score.err.end(), '\n'), 1) << score.err;
  EXPECT_EQ(score.err.find('\r'), std::string::npos) << score.err;
  const RunResult embed = testing::run_strand(
      {"embed", "--model", path("model"), "--input", path("in.fa"), "--output", path("e.st")}, dir_.string());
  ASSERT_EQ(embed.exit_code, 0) << embed.err;
  EXPECT_EQ(std::count(embed.err.begin(), embed.err.end(), '\n'), 1) << embed.err;
  EXPECT_EQ(embed.err.find('\r'), std::string::npos) << embed.err;
}

TEST_F(ProgressCliTest, OnATerminalALineRedrawnInPlaceThenErased) {
  if (!std::filesystem::exists("/usr/bin/script")) GTEST_SKIP() << "no script(1) to give strand a terminal";
  const RunResult r = testing::run_strand_on_terminal(score_args(), dir_.string());
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const std::string& shown = r.out;
  EXPECT_NE(shown.find("\rstrand score: 1/40 records (2%)"), std::string::npos) << shown;
  // The line is erased before the summary, which starts on a clean line.
  EXPECT_NE(shown.find("\r\x1b[Kstrand score: 40 records, "), std::string::npos) << shown;
  EXPECT_EQ(io::read_text(path("out.tsv")).rfind("id\tlength\t", 0), 0u);
}

}  // namespace
}  // namespace strand::infer
