// Choosing the device from the command line: train.device and --device take cpu, cuda or cuda:N; anything
// else, or a GPU that is not there, is an error naming the key or option.
#include <gtest/gtest.h>

#include "strand/core/device_memory.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

#include "run_strand.h"
#include "temp_dir.h"

namespace strand {
namespace {

class DeviceCli : public testing::TempDirTest {
 protected:
  testing::RunResult train_on(const std::string& device) const {
    return testing::run_strand(
        {"train", "train.device=" + device, "data.mock=true", "data.mock_documents=2", "data.mock_length=100",
         "data.max_length=64", "batch.tokens=256", "model.hidden_size=32", "model.intermediate_size=64",
         "model.num_hidden_layers=1", "model.num_attention_heads=2", "model.num_key_value_heads=1",
         "train.max_steps=1", "run.dir=" + path("run")},
        dir_.string());
  }
  static void expect_one_error_line(const testing::RunResult& r, const std::string& needle) {
    EXPECT_NE(r.exit_code, 0);
    EXPECT_EQ(r.err.rfind("strand: error: ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  }
};

TEST_F(DeviceCli, TrainDeviceMustNameADevice) {
  for (const char* device : {"gpu", "cuda:", "cuda:x", "cuda:-1"})
    expect_one_error_line(train_on(device),
                          std::string("train.device: expected cpu, cuda or cuda:N, got ") + device);
}

TEST_F(DeviceCli, TrainDeviceBeyondTheVisibleGpusIsRefused) {
  const int visible = cuda_device_count();
  const std::string device = "cuda:" + std::to_string(visible);
  if (visible == 0) {
    expect_one_error_line(train_on(device), "train.device=cuda:0, but no CUDA GPU is visible");
  } else {
    expect_one_error_line(train_on(device), "train.device=" + device + ": " + device + " requested, " +
                                                std::to_string(visible) + " CUDA GPU" +
                                                (visible == 1 ? "" : "s") + " visible");
  }
}

TEST_F(DeviceCli, ScoreDeviceMustNameADevice) {
  std::filesystem::create_directories(path("model"));  // the parser checks the paths before the device
  std::ofstream(path("in.fa")) << ">r\nACGT\n";
  const testing::RunResult r = testing::run_strand(
      {"score", "--model", path("model"), "--input", path("in.fa"), "--device", "cuda:x"}, dir_.string());
  EXPECT_NE(r.exit_code, 0);  // a command-line error, reported by the option parser
  EXPECT_NE(r.err.find("expected cpu, cuda or cuda:N, got cuda:x"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace strand
