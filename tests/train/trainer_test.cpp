// End-to-end training on the CPU: exact resume, preemption by SIGTERM, corrupt checkpoints, bad configs.
#include "strand/train/trainer.h"
#include "strand/core/json.h"
#include "strand/train/checkpoint.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <thread>

#include "temp_dir.h"

namespace strand {
namespace {

namespace fs = std::filesystem;

class Trainer : public testing::TempDirTest {
 protected:
  // A tiny model on the committed E. coli excerpt: a few seconds per run.
  std::vector<std::string> base_overrides(const std::string& run) const {
    return {"model.hidden_size=32",
            "model.intermediate_size=64",
            "model.num_hidden_layers=2",
            "model.num_attention_heads=2",
            "model.num_key_value_heads=1",
            "data.max_length=64",
            "data.overlap=8",
            "batch.tokens=256",
            "batch.grad_accum=2",
            "train.max_steps=8",
            "train.log_every=1",
            "train.eval_every=4",
            "train.eval_batches=2",
            "schedule.warmup_steps=2",
            "checkpoint.save_every=3",
            "checkpoint.keep_last=0",
            "export.hf=false",
            "run.tensorboard=false",
            "train.threads=1",
            std::string("data.train=[") + STRAND_TEST_DATA + "/data/ecoli_k12_excerpt.fa]",
            std::string("data.val=[") + STRAND_TEST_DATA + "/data/ecoli_k12_excerpt.fa]",
            "run.dir=" + path(run)};
  }

  TrainResult run(const std::vector<std::string>& overrides) {
    TrainConfig config;
    ConfigSchema schema;
    config.bind(schema);
    schema.apply_overrides(overrides);
    return train(config, schema);
  }

  // train/loss per step from a run's metrics.jsonl.
  std::map<int64_t, double> losses(const std::string& run) const {
    std::map<int64_t, double> out;
    std::ifstream in(path(run) + "/metrics.jsonl");
    for (std::string line; std::getline(in, line);) {
      const auto j = nlohmann::json::parse(line);
      if (j.contains("train/loss")) out[j["step"].get<int64_t>()] = j["train/loss"].get<double>();
    }
    return out;
  }

  static std::string file_bytes(const std::string& file) {
    std::ifstream in(file, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
};

TEST_F(Trainer, LearnsAndWritesEverything) {
  auto o = base_overrides("full");
  o.push_back("export.hf=true");
  o.push_back("run.tensorboard=true");
  const TrainResult r = run(o);
  EXPECT_EQ(r.final_step, 8);
  const auto l = losses("full");
  ASSERT_EQ(l.size(), 8u);
  EXPECT_LT(l.at(8), l.at(1));  // it learns
  EXPECT_TRUE(fs::exists(path("full") + "/checkpoints/step_8/MANIFEST.json"));
  EXPECT_TRUE(fs::exists(path("full") + "/hf/config.json"));
  EXPECT_TRUE(fs::exists(path("full") + "/hf/model.safetensors"));
  EXPECT_TRUE(fs::exists(path("full") + "/hf/tokenizer.json"));
  bool events = false;
  for (const auto& e : fs::directory_iterator(path("full") + "/tensorboard"))
    events |= e.path().filename().string().starts_with("events.out.tfevents.");
  EXPECT_TRUE(events);
}

// train.profile splits every logged step's time by kind of work: each part is positive where the model does
// that work, and the parts add up to the step time.
TEST_F(Trainer, ProfileSplitsStepTime) {
  auto o = base_overrides("profile");
  o.push_back("train.profile=true");
  run(o);
  std::ifstream in(path("profile") + "/metrics.jsonl");
  int records = 0;
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    if (!j.contains("train/step_time_s")) continue;
    ++records;
    double sum_ms = 0;
    for (const char* kind : {"gemm", "attention", "elementwise", "optimizer"}) {
      const double ms = j.at(std::string("time/") + kind + "_ms").get<double>();
      EXPECT_GT(ms, 0) << kind << " at step " << j["step"];
      sum_ms += ms;
    }
    sum_ms += j.at("time/other_ms").get<double>();
    EXPECT_NEAR(sum_ms, j["train/step_time_s"].get<double>() * 1e3, 1e-6) << "step " << j["step"];
    EXPECT_GE(j.at("time/other_ms").get<double>(), 0) << "step " << j["step"];
  }
  EXPECT_EQ(records, 8);

  // The op table of the steady-state steps: a row per (op, shape), largest first, with products' rates.
  std::ifstream report(path("profile") + "/profile.tsv");
  std::string header;
  ASSERT_TRUE(std::getline(report, header));
  EXPECT_EQ(header, "op\tshape\tkind\tcalls_per_step\tms_per_step\tshare\ttflops");
  double previous_ms = 1e30, share = 0;
  bool saw_forward_product = false;
  for (std::string line; std::getline(report, line);) {
    std::vector<std::string> f;
    for (size_t at = 0;; ++at) {
      const size_t tab = line.find('\t', at);
      f.push_back(line.substr(at, tab - at));
      if (tab == std::string::npos) break;
      at = tab;
    }
    ASSERT_EQ(f.size(), 7u) << line;
    const double ms = std::stod(f[4]);
    EXPECT_LE(ms, previous_ms) << line;
    previous_ms = ms;
    share += std::stod(f[5]);
    if (f[0] == "linear_forward") {
      saw_forward_product = true;
      EXPECT_EQ(f[2], "gemm");
      EXPECT_GT(std::stod(f[6]), 0) << line;
    }
  }
  EXPECT_TRUE(saw_forward_product);
  EXPECT_GT(share, 0.5);
  EXPECT_LE(share, 1.0 + 1e-6);
}

TEST_F(Trainer, ResumedRunIsBitwiseIdentical) {
  run(base_overrides("straight"));
  auto first = base_overrides("split");
  first.push_back("train.stop_at_step=5");
  const TrainResult stopped = run(first);
  EXPECT_TRUE(stopped.interrupted);
  EXPECT_EQ(stopped.final_step, 5);
  auto second = base_overrides("split");
  second.push_back("checkpoint.resume=true");
  const TrainResult resumed = run(second);
  EXPECT_EQ(resumed.final_step, 8);

  const auto a = losses("straight"), b = losses("split");
  ASSERT_EQ(a.size(), 8u);
  ASSERT_EQ(b.size(), 8u);
  for (const auto& [step, loss] : a) EXPECT_EQ(b.at(step), loss) << "step " << step;  // bitwise
  EXPECT_EQ(file_bytes(path("straight") + "/checkpoints/step_8/model.safetensors"),
            file_bytes(path("split") + "/checkpoints/step_8/model.safetensors"));
  EXPECT_EQ(file_bytes(path("straight") + "/checkpoints/step_8/optimizer.safetensors"),
            file_bytes(path("split") + "/checkpoints/step_8/optimizer.safetensors"));
}

// Masked-LM training on the embedded protein excerpt: the data side's wiring (esm tokenizer, truncation,
// masking, validation masks, tokenizer export) and an exact resume of masked batches. A Llama stands in for
// the encoder: the data side does not depend on the model.
TEST_F(Trainer, MaskedProteinTrainingResumesBitwise) {
  const auto proteins = [this](const std::string& run) {
    auto o = base_overrides(run);
    const std::string file = std::string(STRAND_TEST_DATA) + "/../data/uniprot_val.fa.gz";
    o.insert(o.end(), {"data.tokenizer=esm", "data.objective=masked", "data.truncate=true",
                       "model.vocab_size=33", "data.train=[" + file + "]", "data.val=[" + file + "]"});
    return o;
  };
  auto straight = proteins("straight");
  straight.push_back("export.hf=true");
  run(straight);
  auto first = proteins("split");
  first.push_back("train.stop_at_step=5");
  EXPECT_TRUE(run(first).interrupted);
  auto second = proteins("split");
  second.push_back("checkpoint.resume=true");
  EXPECT_EQ(run(second).final_step, 8);

  const auto a = losses("straight"), b = losses("split");
  ASSERT_EQ(a.size(), 8u);
  ASSERT_EQ(b.size(), 8u);
  for (const auto& [step, loss] : a) {
    EXPECT_TRUE(std::isfinite(loss)) << "step " << step;
    EXPECT_EQ(b.at(step), loss) << "step " << step;  // bitwise
  }
  EXPECT_EQ(file_bytes(path("straight") + "/checkpoints/step_8/model.safetensors"),
            file_bytes(path("split") + "/checkpoints/step_8/model.safetensors"));
  EXPECT_TRUE(fs::exists(path("straight") + "/hf/vocab.txt"));
  EXPECT_EQ(read_json_file(path("straight") + "/hf/tokenizer_config.json")["tokenizer_class"],
            "EsmTokenizer");
}

TEST_F(Trainer, TruncatedCheckpointIsSkippedOnResume) {
  auto o = base_overrides("trunc");
  o.push_back("train.stop_at_step=7");
  run(o);  // checkpoints at 3, 6 and 7
  const std::string newest = path("trunc") + "/checkpoints/step_7/model.safetensors";
  fs::resize_file(newest, fs::file_size(newest) / 2);
  auto r = base_overrides("trunc");
  r.push_back("checkpoint.resume=true");
  ::testing::internal::CaptureStderr();
  const TrainResult resumed = run(r);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("step_7"), std::string::npos) << err;
  EXPECT_NE(err.find("model.safetensors"), std::string::npos) << err;
  EXPECT_EQ(resumed.final_step, 8);
  const auto l = losses("trunc");
  EXPECT_TRUE(l.count(7));  // step 7 trained twice: once before the damage, once after resuming from step 6
}

TEST_F(Trainer, SigtermWritesAResumableCheckpoint) {
  const std::string run_dir = path("sig");
  std::vector<std::string> args = {STRAND_BINARY, "train"};
  for (const std::string& o : base_overrides("sig")) args.push_back(o);
  args.push_back("train.max_steps=100000");
  args.push_back("checkpoint.save_every=0");
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int null_fd = ::open("/dev/null", O_WRONLY);
    dup2(null_fd, STDOUT_FILENO);
    execv(STRAND_BINARY, argv.data());
    _exit(127);
  }
  // Wait for the first logged step, then preempt.
  const std::string metrics = run_dir + "/metrics.jsonl";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while ((!fs::exists(metrics) || fs::file_size(metrics) == 0) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 128 + SIGTERM);  // stopped, not finished: the shell's code for SIGTERM
  CheckpointManager manager(run_dir + "/checkpoints", 0);
  const auto newest = manager.newest_complete();
  ASSERT_TRUE(newest.has_value());
  const CheckpointContents ck = load_checkpoint(*newest);
  const int64_t step = ck.trainer_state.at("step").get<int64_t>();
  EXPECT_GE(step, 1);
  EXPECT_LT(step, 100000);
}

TEST_F(Trainer, BadConfigsAreNamedErrors) {
  auto o = base_overrides("bad");
  o.push_back("data.max_length=100000");
  try {
    run(o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("data.max_length"), std::string::npos) << e.what();
  }
  auto missing = base_overrides("bad2");
  missing.push_back("data.train=[/nonexistent/genome.fa]");
  EXPECT_THROW(run(missing), Error);
}

}  // namespace
}  // namespace strand
