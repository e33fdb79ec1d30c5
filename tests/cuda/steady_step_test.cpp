// A steady GPU training step allocates and frees no device memory: `strand train` on the 150m Llama shape
// logs train/device_allocations 0 in every record after the first steps (which size the arenas, plans and
// buffers), over 20 steady steps.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "strand/core/device_memory.h"

#include <fstream>
#include <string>

#include "run_strand.h"
#include "temp_dir.h"

namespace strand {
namespace {

class CudaSteadyStep : public testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device on this machine";
  }
};

TEST_F(CudaSteadyStep, NoDeviceAllocationAfterTheSecondStep) {
  const testing::RunResult r = testing::run_strand(
      {"train", "--config-name", "bench/llama_150m", "train.device=cuda:0", "train.max_steps=22",
       "train.log_every=1", "checkpoint.at_end=false", "export.hf=false", "run.dir=" + path("run")},
      dir_.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(path("run") + "/metrics.jsonl");
  ASSERT_TRUE(in.good());
  int64_t steady_records = 0;
  for (std::string line; std::getline(in, line);) {
    const nlohmann::json record = nlohmann::json::parse(line);
    if (!record.contains("train/device_allocations")) continue;
    const int64_t step = record.at("step").get<int64_t>();
    if (step <= 2) continue;
    EXPECT_EQ(record.at("train/device_allocations").get<double>(), 0.0) << "step " << step;
    ++steady_records;
  }
  EXPECT_EQ(steady_records, 20);
}

}  // namespace
}  // namespace strand
