// Model directories written by transformers' own save_pretrained (tests/io/hf_saved/README.md) load and give
// transformers' logits.
#include "strand/interop/hf_checkpoint.h"
#include "strand/io/safetensors.h"
#include "strand/ops/lm_batch.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

namespace strand {
namespace {

// max |strand - transformers| / max |transformers| over the logits of the reference's packed sequences.
double logits_rel_error(const std::string& name) {
  const std::string dir = std::string(STRAND_TEST_DATA) + "/io/hf_saved/";
  const auto model = interop::load_hf_model(dir + name);
  const io::SafetensorsFile ref = io::SafetensorsFile::open(dir + name + ".reference.safetensors");
  const LMBatch batch = LMBatch::from_packed(ref.read("input_ids"), ref.read("cu_seqlens"));
  Arena arena;
  const Tensor logits = model->forward(arena, batch.tokens, batch.layout).to(DType::F32);
  const Tensor want = ref.read("logits").to(DType::F32);
  EXPECT_EQ(logits.shape(), want.shape());
  if (logits.shape() != want.shape()) return INFINITY;
  double diff = 0, scale = 0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    diff = std::max(diff, std::abs(static_cast<double>(logits.data<float>()[i]) - want.data<float>()[i]));
    scale = std::max(scale, std::abs(static_cast<double>(want.data<float>()[i])));
  }
  return diff / scale;
}

TEST(HfSavedPretrained, Esm2WrittenByTransformers517MatchesItsLogits) {
  const double err = logits_rel_error("esm2_saved");
  RecordProperty("max_rel_err", fmt::format("{:.3e}", err));
  EXPECT_LE(err, 1e-4);
}

TEST(HfSavedPretrained, ShardedBf16LlamaWrittenByTransformers517MatchesItsLogits) {
  const double err = logits_rel_error("llama_saved_bf16_sharded");
  RecordProperty("max_rel_err", fmt::format("{:.3e}", err));
  EXPECT_LE(err, 1e-4);
}

}  // namespace
}  // namespace strand
