// Parity with transformers' LlamaForCausalLM: golden logits, loss and every parameter gradient, produced by
// tools/make_golden.py (transformers on the GPU machine, float64) and committed under tests/golden/.
// Strand runs the same sequences PACKED into one batch, in float32, and must agree to:
//   logits: max |a - b| / max |b| <= 1e-4;  loss: relative 1e-5;  each gradient: ||a - b|| / ||b|| <= 1e-3.
#include "strand/io/hf_llama_config.h"
#include "strand/io/safetensors.h"
#include "strand/models/llama/model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>

namespace strand {
namespace {

struct Errors {
  double max_abs = 0, max_ref = 0, sq_diff = 0, sq_ref = 0;
  void add(double a, double b) {
    max_abs = std::max(max_abs, std::abs(a - b));
    max_ref = std::max(max_ref, std::abs(b));
    sq_diff += (a - b) * (a - b);
    sq_ref += b * b;
  }
  double max_rel() const { return max_abs / max_ref; }
  double norm_rel() const { return std::sqrt(sq_diff / sq_ref); }
};

Errors compare(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  Errors e;
  const Tensor a64 = a.to(DType::F64), b64 = b.to(DType::F64);
  for (int64_t i = 0; i < a.numel(); ++i) e.add(a64.data<double>()[i], b64.data<double>()[i]);
  if (std::isnan(e.sq_diff)) e.sq_diff = e.max_abs = INFINITY;
  return e;
}

class LlamaGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(LlamaGolden, MatchesTransformers) {
  const std::string path = std::string(STRAND_TEST_DATA) + "/golden/" + GetParam() + ".safetensors";
  const io::SafetensorsFile golden = io::SafetensorsFile::open(path);
  const auto& meta = golden.metadata();
  ASSERT_TRUE(meta.count("config")) << path << " has no config metadata";
  const LlamaConfig config = io::llama_config_from_hf(nlohmann::json::parse(meta.at("config")), path);

  LlamaModel model(config, DType::F32);
  for (nn::Parameter* p : model.parameters()) {
    ASSERT_TRUE(golden.contains("param." + p->name)) << p->name;
    p->value.copy_from(golden.read("param." + p->name));
  }
  const LMBatch batch = LMBatch::from_packed(golden.read("input_ids"), golden.read("cu_seqlens"));
  ASSERT_GT(batch.layout.num_seqs(), 1) << "the golden batch must pack several sequences";

  int64_t predicted = 0;
  for (int64_t t = 0; t < batch.labels.numel(); ++t)
    predicted += batch.labels.data<int32_t>()[t] != kIgnoreIndex;
  Arena arena;
  const LossResult r = lm_loss(model, arena, batch, static_cast<double>(predicted));
  ASSERT_EQ(r.sums.tokens, predicted);

  const Errors logits = compare(r.logits, golden.read("logits"));
  const double loss_ref = golden.read("loss").item();
  const double loss_rel = std::abs(r.mean_loss() - loss_ref) / std::abs(loss_ref);
  std::printf("%s: logits max rel err %.3g, loss %.8f vs %.8f (rel %.3g)\n", GetParam().c_str(),
              logits.max_rel(), r.mean_loss(), loss_ref, loss_rel);
  EXPECT_LE(logits.max_rel(), 1e-4);
  EXPECT_LE(loss_rel, 1e-5);

  double worst = 0;
  std::string worst_name;
  int checked = 0;
  for (nn::Parameter* p : model.parameters()) {
    ASSERT_TRUE(golden.contains("grad." + p->name)) << p->name;
    const Errors g = compare(p->grad, golden.read("grad." + p->name));
    EXPECT_LE(g.norm_rel(), 1e-3) << "gradient of " << p->name;
    EXPECT_GT(g.sq_ref, 0.0) << "golden gradient of " << p->name << " is zero; the check would prove nothing";
    if (g.norm_rel() > worst) {
      worst = g.norm_rel();
      worst_name = p->name;
    }
    ++checked;
  }
  for (const io::TensorInfo& t : golden.tensors())
    if (t.name.starts_with("grad.")) --checked;
  EXPECT_EQ(checked, 0) << "every golden gradient must belong to a strand parameter";
  std::printf("%s: worst gradient rel err %.3g (%s)\n", GetParam().c_str(), worst, worst_name.c_str());
}

INSTANTIATE_TEST_SUITE_P(Models, LlamaGolden, ::testing::Values("llama_gqa", "llama_tied"));

}  // namespace
}  // namespace strand
