// A run directory belongs to one run: a fresh run refuses another's outputs (run.overwrite replaces them), a
// second process refuses a locked one, and a resume continues only its own recipe's checkpoints, trimming
// the metrics log to the checkpoint's step.
#include "strand/train/run_directory.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "train_cli.h"

namespace strand {
namespace {

namespace fs = std::filesystem;
using testing::RunResult;

class RunDirectoryCli : public testing::TrainCli {
 protected:
  // The steps of metrics.jsonl's records, in file order; every line must parse.
  std::vector<int64_t> logged_steps(const std::string& run_dir) const {
    std::ifstream in(run_dir + "/metrics.jsonl");
    std::vector<int64_t> steps;
    for (std::string line; std::getline(in, line);) steps.push_back(nlohmann::json::parse(line).at("step"));
    return steps;
  }
};

TEST_F(RunDirectoryCli, AFreshRunRefusesAnEarlierRunsOutputsUnlessOverwriting) {
  const std::string args = "train " + tiny() + "train.max_steps=3 run.dir=" + path("run");
  ASSERT_EQ(run(args).exit_code, 0);
  const auto first_model = fs::last_write_time(path("run") + "/hf/model.safetensors");
  expect_one_error_line(run(args), "holds an earlier run's outputs");
  EXPECT_EQ(fs::last_write_time(path("run") + "/hf/model.safetensors"), first_model);  // nothing touched

  const RunResult again = run(args + " train.max_steps=2 run.overwrite=true");
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("run.overwrite: removed"), std::string::npos) << again.out;
  EXPECT_EQ(logged_steps(path("run")), (std::vector<int64_t>{1, 2}));  // the new run's records only
  EXPECT_FALSE(fs::exists(path("run") + "/checkpoints/step_3"));
}

TEST_F(RunDirectoryCli, ASecondRunOnALockedDirectoryNamesTheHolder) {
  const RunDirectoryLock held(path("run"));
  expect_one_error_line(run("train " + tiny() + "train.max_steps=2 run.dir=" + path("run")),
                        "in use by another strand run (pid " + std::to_string(::getpid()) + ",");
}

TEST_F(RunDirectoryCli, ResumeRefusesAnotherRecipesCheckpointAndALongerRun) {
  const std::string base = "train " + tiny() + "train.max_steps=4 run.dir=" + path("run");
  ASSERT_EQ(run(base).exit_code, 0);
  expect_one_error_line(run(base + " checkpoint.resume=true data.seed=7"),
                        "belongs to another run: data.seed was 1234, now 7");
  expect_one_error_line(run(base + " checkpoint.resume=true train.max_steps=2"),
                        "is at step 4, beyond train.max_steps=2");
  // Nothing left to train: said so, and no made-up loss.
  const RunResult done = run(base + " checkpoint.resume=true");
  ASSERT_EQ(done.exit_code, 0) << done.err;
  EXPECT_NE(done.out.find("nothing to train"), std::string::npos) << done.out;
  EXPECT_EQ(done.out.find("final train loss"), std::string::npos) << done.out;
  // A longer run with another learning rate continues it, reporting the change.
  const RunResult longer = run(base + " checkpoint.resume=true train.max_steps=6 optimizer.lr=1e-3");
  ASSERT_EQ(longer.exit_code, 0) << longer.err;
  EXPECT_NE(longer.out.find("resume: optimizer.lr: 0.003 -> 0.001"), std::string::npos) << longer.out;
  EXPECT_EQ(logged_steps(path("run")), (std::vector<int64_t>{1, 2, 3, 4, 5, 6}));
}

TEST_F(RunDirectoryCli, ResumeTrimsTheMetricsLogToTheCheckpointAndDropsCutLines) {
  const std::string base =
      "train " + tiny() +
      "train.max_steps=5 checkpoint.save_every=2 checkpoint.keep_last=0 run.dir=" + path("run");
  ASSERT_EQ(run(base + " train.stop_at_step=3").exit_code, 0);  // checkpoints at 2 and 3
  fs::remove_all(path("run") + "/checkpoints/step_3");          // as if killed before step 3's checkpoint
  std::ofstream(path("run") + "/metrics.jsonl", std::ios::app) << "{\"step\": 4, \"train/lo";  // a full disk
  const RunResult resumed = run(base + " checkpoint.resume=true");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.out.find("metrics.jsonl: 2 records after it dropped"), std::string::npos) << resumed.out;
  EXPECT_EQ(logged_steps(path("run")), (std::vector<int64_t>{1, 2, 3, 4, 5}));
}

TEST_F(RunDirectoryCli, TheNextRunRemovesWhatAKilledRunLeftHalfWritten) {
  const std::string base =
      "train " + tiny() + "train.max_steps=2 checkpoint.save_every=1 run.dir=" + path("run");
  ASSERT_EQ(run(base + " train.stop_at_step=1").exit_code, 0);
  // A pid no process has: a child that has exited.
  const pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);
  const std::string pid = std::to_string(child);
  std::ofstream(path("run") + "/.config.yaml.tmp." + pid + ".0") << "half";
  fs::create_directories(path("run") + "/checkpoints/.tmp.step_2." + pid + ".0");
  // No checkpoint is written this time, so the start's cleanup is what removes them.
  ASSERT_EQ(run(base + " checkpoint.resume=true checkpoint.save_every=0 checkpoint.at_end=false").exit_code,
            0);
  EXPECT_FALSE(fs::exists(path("run") + "/.config.yaml.tmp." + pid + ".0"));
  EXPECT_FALSE(fs::exists(path("run") + "/checkpoints/.tmp.step_2." + pid + ".0"));
}

TEST_F(RunDirectoryCli, ResumeWithEveryCheckpointCorruptRefusesAndKeepsThem) {
  const std::string base =
      "train " + tiny() +
      "train.max_steps=4 checkpoint.save_every=2 checkpoint.keep_last=0 run.dir=" + path("run");
  ASSERT_EQ(run(base).exit_code, 0);  // checkpoints at 2 and 4
  for (const char* step : {"step_2", "step_4"}) {
    std::fstream f(path("run") + "/checkpoints/" + step + "/model.safetensors",
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-1, std::ios::end);
    f.put('\x5a');
  }
  const auto size = fs::file_size(path("run") + "/checkpoints/step_4/model.safetensors");
  const RunResult r = run(base + " checkpoint.resume=true");
  // Each skipped one is said as it is checked, then the error lists them all.
  EXPECT_NE(r.exit_code, 0);
  const std::string error = r.err.substr(r.err.find("strand: error: "));
  EXPECT_NE(error.find("no checkpoint in " + path("run") + "/checkpoints is usable"), std::string::npos)
      << r.err;
  EXPECT_NE(error.find("step_2: model.safetensors: CRC-32C"), std::string::npos) << r.err;
  EXPECT_NE(error.find("step_4: model.safetensors: CRC-32C"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::exists(path("run") + "/checkpoints/step_2"));
  EXPECT_EQ(fs::file_size(path("run") + "/checkpoints/step_4/model.safetensors"), size);
}

// optimizer.eps=0 divides by zero where a gradient is 0 (the embeddings of ids the data never holds): the
// weights become NaN, and neither a checkpoint nor an export is written from them, nor a good one pruned.
TEST_F(RunDirectoryCli, NonFiniteWeightsAreNeverCheckpointed) {
  const std::string base =
      "train " + tiny() + "checkpoint.save_every=1 checkpoint.keep_last=1 run.dir=" + path("run");
  ASSERT_EQ(run(base + " train.max_steps=2").exit_code, 0);
  const RunResult r = run(base + " train.max_steps=4 checkpoint.resume=true optimizer.eps=0");
  expect_one_error_line(r, "after step 3: training diverged");
  EXPECT_NE(r.err.find("the last good checkpoint is " + path("run") + "/checkpoints/step_2"),
            std::string::npos)
      << r.err;
  EXPECT_TRUE(fs::exists(path("run") + "/checkpoints/step_2/MANIFEST.json"));
  EXPECT_FALSE(fs::exists(path("run") + "/checkpoints/step_3"));
}

}  // namespace
}  // namespace strand
