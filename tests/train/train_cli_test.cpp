// `strand train` from the command line: bad recipes and inputs end in one error line and a non-zero exit,
// with no run directory left behind as if training had happened; fine-tuning starts from exported weights.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

#include "strand/core/json.h"

#include "train_cli.h"

namespace strand {
namespace {

namespace fs = std::filesystem;
using testing::RunResult;
using testing::TrainCli;

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

TEST_F(TrainCli, IntervalsAndFractionsOutsideTheirRangeNameTheKey) {
  expect_one_error_line(run("train train.log_every=0"), "'train.log_every' must be >= 1, got 0");
  expect_one_error_line(run("train data.val_fraction=1.5"), "'data.val_fraction' must be in [0, 1), got 1.5");
  expect_one_error_line(run("train optimizer.clip_grad=-1"), "'optimizer.clip_grad' must be >= 0");
  expect_one_error_line(run("train train.threads=-2"), "'train.threads' must be >= 0");
}

TEST_F(TrainCli, SizesThatCannotFitFailBeforeAllocating) {
  expect_one_error_line(run("train " + tiny() + "model.num_hidden_layers=10000000 run.dir=" + path("run")),
                        "GiB available");
  expect_one_error_line(run("train " + tiny() + "batch.tokens=1000000000000 run.dir=" + path("run")),
                        "batch.tokens");
  EXPECT_FALSE(fs::exists(path("run")));
  // A config.json whose sizes overflow a 64-bit parameter count.
  ASSERT_EQ(run("init --config " + std::string(STRAND_TEST_DATA) +
                "/../configs/llama_tiny.json --seed 1 --out " + path("huge"))
                .exit_code,
            0);
  nlohmann::json config = read_json_file(path("huge") + "/config.json");
  config["num_hidden_layers"] = std::numeric_limits<int64_t>::max();
  std::ofstream(path("huge") + "/config.json") << config.dump();
  expect_one_error_line(run("train model.init_from=" + path("huge") + " run.dir=" + path("run")),
                        "overflows a 64-bit integer");
}

TEST_F(TrainCli, PrintConfigShowsARecipeThatReadsBackTheSame) {
  const RunResult printed = run("train --config-name llama_demo train.max_steps=7 --print-config");
  ASSERT_EQ(printed.exit_code, 0) << printed.err;
  EXPECT_NE(printed.out.find("max_steps: 7"), std::string::npos) << printed.out;
  std::ofstream(path("printed.yaml")) << printed.out;
  const RunResult again = run("train --config " + path("printed.yaml") + " --print-config");
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.out, printed.out);
  // A run keeps it as config.yaml.
  ASSERT_EQ(run("train " + tiny() + "train.max_steps=1 run.dir=" + path("run")).exit_code, 0);
  const RunResult saved = run("train --config " + path("run") + "/config.yaml --print-config");
  ASSERT_EQ(saved.exit_code, 0) << saved.err;
  EXPECT_NE(saved.out.find("hidden_size: 32"), std::string::npos) << saved.out;
}

TEST_F(TrainCli, ListRecipesNamesTheShippedOnes) {
  const RunResult r = run("train --list-recipes");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("llama_demo "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("esm2_t6_8m "), std::string::npos) << r.out;
}

TEST_F(TrainCli, WarmupLongerThanTheRunIsWarnedAbout) {
  const RunResult r =
      run("train " + tiny() + "train.max_steps=2 schedule.warmup_steps=5 run.dir=" + path("run"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("schedule.warmup_steps (5) > train.max_steps (2)"), std::string::npos) << r.err;
}

// Without a model section, model.init_from's config.json is the architecture; a model section that
// disagrees with it is named key by key; a fine-tuning run is evaluated before its first step.
TEST_F(TrainCli, InitFromTakesTheArchitectureOfItsConfigJson) {
  ASSERT_EQ(run("train " + tiny() + "train.max_steps=2 run.dir=" + path("base")).exit_code, 0);
  const std::string data =
      "data.train=[" + std::string(STRAND_TEST_DATA) + "/data/ecoli_k12_excerpt.fa] " +
      "data.val_fraction=0.2 data.val=[] data.max_length=64 batch.tokens=256 train.threads=1 " +
      "train.eval_every=0 train.log_every=1 run.tensorboard=false ";
  const RunResult tuned = run("train " + data + "train.max_steps=1 model.init_from=" + path("base") +
                              "/hf run.dir=" + path("tuned"));
  ASSERT_EQ(tuned.exit_code, 0) << tuned.err;
  const RunResult config = run("train --config " + path("tuned") + "/config.yaml --print-config");
  EXPECT_NE(config.out.find("hidden_size: 32"), std::string::npos) << config.out;
  std::ifstream metrics(path("tuned") + "/metrics.jsonl");
  std::string first;
  std::getline(metrics, first);
  const nlohmann::json record = nlohmann::json::parse(first);
  EXPECT_EQ(record.at("step"), 0);
  EXPECT_TRUE(record.contains("val/loss")) << first;

  expect_one_error_line(run("train " + data + "model.hidden_size=64 model.init_from=" + path("base") +
                            "/hf run.dir=" + path("other")),
                        "hidden_size is 32 there, 64 configured");
}

TEST_F(TrainCli, ValidationShowsProgressOnATerminal) {
  if (!fs::exists("/usr/bin/script")) GTEST_SKIP() << "no script(1) to give strand a terminal";
  std::vector<std::string> args{"train"};
  std::istringstream words(tiny() + "train.max_steps=1 data.val_fraction=0.3 run.dir=" + path("run"));
  for (std::string w; words >> w;) args.push_back(w);
  const RunResult r = testing::run_strand_on_terminal(args, dir_.string());
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("strand train: validation"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" batches"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace strand
