// `strand forward` on inputs the model cannot take: token ids outside its vocabulary and sequences longer
// than its positions are one error line naming the input file, and no output is written.
#include "strand/interop/hf_checkpoint.h"
#include "strand/io/safetensors.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "infer/tiny_llama.h"
#include "run_strand.h"
#include "temp_dir.h"

namespace strand {
namespace {

using testing::RunResult;

class ForwardCliTest : public testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    LlamaModel model(testing::tiny_llama_config());  // 256 ids, 256 positions
    model.init(2);
    interop::save_hf_model(model, path("model"));
  }
  // One sequence of `length` tokens, each `id`.
  RunResult forward(int64_t length, int32_t id) const {
    Tensor ids = Tensor::empty({length}, DType::I32), cu = Tensor::empty({2}, DType::I32);
    for (int64_t i = 0; i < length; ++i) ids.data<int32_t>()[i] = id;
    cu.data<int32_t>()[0] = 0;
    cu.data<int32_t>()[1] = static_cast<int32_t>(length);
    io::save_safetensors(path("in.st"), {{"input_ids", ids}, {"cu_seqlens", cu}});
    return testing::run_strand(
        {"forward", "--model", path("model"), "--inputs", path("in.st"), "--out", path("out.st")},
        dir_.string());
  }
};

TEST_F(ForwardCliTest, AnIdOutsideTheVocabularyIsAnError) {
  const RunResult r = forward(4, 300);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("token 300 at position 0 is outside the vocabulary [0, 256)"), std::string::npos)
      << r.err;
  EXPECT_FALSE(std::filesystem::exists(path("out.st")));
}

TEST_F(ForwardCliTest, ASequenceLongerThanTheModelsPositionsIsAnError) {
  ASSERT_EQ(forward(256, 65).exit_code, 0);
  std::filesystem::remove(path("out.st"));
  const RunResult r = forward(257, 65);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find(path("in.st") + ": sequence 0 has 257 tokens, more than the model's 256 positions"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(std::filesystem::exists(path("out.st")));
}

}  // namespace
}  // namespace strand
