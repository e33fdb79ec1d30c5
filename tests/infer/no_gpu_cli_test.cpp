// `strand score`, `embed` and `generate` asked for a GPU on a machine that has none: one plain error line
// saying no CUDA GPU is visible (what `strand train train.device=cuda` says), a non-zero exit, and no output
// file.
#include "strand/core/device_memory.h"
#include "strand/interop/hf_checkpoint.h"

#include "infer/tiny_llama.h"
#include "run_strand.h"
#include "temp_dir.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace strand::infer {
namespace {

class NoGpuCliTest : public testing::TempDirTest {
 protected:
  void SetUp() override {
    if (cuda_device_count() > 0) GTEST_SKIP() << "a CUDA GPU is visible: this checks machines without one";
    TempDirTest::SetUp();
    LlamaModel model(testing::tiny_llama_config());
    model.init(2);
    interop::save_hf_model(model, path("model"));
    std::ofstream(path("in.fa")) << ">r\nACGTACGT\n";
  }
};

TEST_F(NoGpuCliTest, InferenceCommandsSayNoGpuIsVisible) {
  const std::vector<std::vector<std::string>> commands = {
      {"score", "--model", path("model"), "--input", path("in.fa"), "--output", path("out.tsv")},
      {"embed", "--model", path("model"), "--input", path("in.fa"), "--output", path("out.st")},
      {"generate", "--model", path("model"), "--prompt", "ACGT"},
  };
  for (std::vector<std::string> args : commands) {
    for (const char* device : {"cuda", "cuda:1"}) {
      SCOPED_TRACE(args[0] + " --device " + device);
      args.insert(args.end(), {"--device", device});
      const testing::RunResult r = testing::run_strand(args, dir_.string());
      EXPECT_EQ(r.exit_code, 1);
      EXPECT_EQ(r.out, "");
      EXPECT_EQ(r.err, "strand: error: --device=" + std::string(device) +
                           ", but no CUDA GPU is visible (or this strand was built without CUDA)\n");
      args.resize(args.size() - 2);
    }
  }
  EXPECT_FALSE(std::filesystem::exists(path("out.tsv")));
  EXPECT_FALSE(std::filesystem::exists(path("out.st")));
}

}  // namespace
}  // namespace strand::infer
