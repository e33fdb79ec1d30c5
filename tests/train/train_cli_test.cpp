// `strand train` from the command line: bad recipes and inputs end in one error line and a non-zero exit,
// with no run directory left behind as if training had happened; fine-tuning starts from exported weights.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "run_strand.h"
#include "temp_dir.h"

namespace strand {
namespace {

namespace fs = std::filesystem;

class TrainCli : public testing::TempDirTest {
 protected:
  // `args` is split at spaces (test paths hold none).
  testing::RunResult run(const std::string& args) const {
    std::vector<std::string> words;
    std::istringstream in(args);
    for (std::string w; in >> w;) words.push_back(w);
    return testing::run_strand(words, dir_.string());
  }
  std::string tiny() const {
    return std::string("model.hidden_size=32 model.intermediate_size=64 model.num_hidden_layers=1 ") +
           "model.num_attention_heads=2 model.num_key_value_heads=1 data.max_length=64 batch.tokens=256 " +
           "train.log_every=1 train.eval_every=0 checkpoint.save_every=0 run.tensorboard=false " +
           "data.train=[" + STRAND_TEST_DATA + "/data/ecoli_k12_excerpt.fa] data.val=[] train.threads=1 ";
  }
  static void expect_one_error_line(const testing::RunResult& r, const std::string& needle) {
    EXPECT_NE(r.exit_code, 0);
    EXPECT_EQ(r.err.rfind("strand: error: ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  }
};

TEST_F(TrainCli, UnknownKeyNamesTheClosestValidKey) {
  const testing::RunResult r = run("train optimizer.lrr=1e-3 run.dir=" + path("run"));
  expect_one_error_line(r, "did you mean 'optimizer.lr'");
  EXPECT_FALSE(fs::exists(path("run")));
}

TEST_F(TrainCli, WrongTypeNamesTheKey) {
  const testing::RunResult r = run("train train.max_steps=ten run.dir=" + path("run"));
  expect_one_error_line(r, "'train.max_steps' must be an integer");
  EXPECT_FALSE(fs::exists(path("run")));
}

TEST_F(TrainCli, MissingInputAndRecipeAreNamed) {
  testing::RunResult r =
      run("train " + tiny() + "data.train=[" + path("absent.fa") + "] run.dir=" + path("run"));
  expect_one_error_line(r, path("absent.fa"));
  EXPECT_FALSE(fs::exists(path("run")));
  r = run("train --config-name no_such_recipe");
  expect_one_error_line(r, "no_such_recipe");
}

TEST_F(TrainCli, MalformedFastaNamesFileAndLine) {
  {
    std::ofstream bad(path("bad.fa"));
    bad << ">ok\nACGT\nAC\x01GT\n";
  }
  const testing::RunResult r =
      run("train " + tiny() + "data.train=[" + path("bad.fa") + "] run.dir=" + path("run"));
  expect_one_error_line(r, path("bad.fa") + ":3");
  EXPECT_FALSE(fs::exists(path("run")));
}

TEST_F(TrainCli, FineTuneStartsFromExportedWeights) {
  testing::RunResult a = run("train " + tiny() + "train.max_steps=30 run.dir=" + path("base"));
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_TRUE(fs::exists(path("base") + "/hf/config.json"));
  testing::RunResult b =
      run("train " + tiny() + "train.max_steps=1 schedule.warmup_steps=0 model.init_from=" + path("base") +
          "/hf run.dir=" + path("tuned"));
  ASSERT_EQ(b.exit_code, 0) << b.err;
  testing::RunResult c =
      run("train " + tiny() + "train.max_steps=1 schedule.warmup_steps=0 run.dir=" + path("fresh"));
  ASSERT_EQ(c.exit_code, 0) << c.err;
  auto first_loss = [&](const std::string& run_dir) {
    std::ifstream in(run_dir + "/metrics.jsonl");
    std::string line;
    std::getline(in, line);
    const auto at = line.find("\"train/loss\":");
    return std::stod(line.substr(at + 13));
  };
  // The fine-tuned run begins where the base run ended, far below a fresh model's loss.
  EXPECT_LT(first_loss(path("tuned")), first_loss(path("fresh")) - 0.5);
}

}  // namespace
}  // namespace strand
