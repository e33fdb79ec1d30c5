// Parity with transformers' LlamaForCausalLM: golden logits, loss and every parameter gradient, produced by
// tools/make_golden.py (transformers on the GPU machine, float64) and committed under tests/golden/.
// Strand runs the same sequences PACKED into one batch and must agree, on the CPU in float32, to:
//   logits: max |a - b| / max |b| <= 1e-4;  loss: relative 1e-5;  each gradient: ||a - b|| / ||b|| <= 1e-3;
// and on CUDA in bfloat16 (F32 master weights, BF16 weights and activations) to:
//   logits: max rel 3e-2;  loss: relative 1e-2;  each gradient: ||a - b|| / ||b|| <= 5e-2.
#include "strand/core/device_memory.h"
#include "strand/io/safetensors.h"
#include "strand/models/llama/hf_config.h"
#include "strand/models/llama/model.h"

#include <gtest/gtest.h>

#include "models/golden_checks.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <tuple>

namespace strand {
namespace {

struct Tolerances {
  double logits, loss, grad;
};

// (golden file, device)
class LlamaGolden : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(LlamaGolden, MatchesTransformers) {
  const auto& [name, device] = GetParam();
  const bool cuda = device == "cuda";
  if (cuda && cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device on this machine";
  const Tolerances tol = cuda ? Tolerances{3e-2, 1e-2, 5e-2} : Tolerances{1e-4, 1e-5, 1e-3};
  const std::string path = testing::golden_path(name);
  const io::SafetensorsFile golden = io::SafetensorsFile::open(path);
  const auto& meta = golden.metadata();
  ASSERT_TRUE(meta.count("config")) << path << " has no config metadata";
  const LlamaConfig config = llama_config_from_hf(nlohmann::json::parse(meta.at("config")), path);

  LlamaModel model(config, cuda ? nn::Placement::cuda(DType::BF16) : nn::Placement(DType::F32));
  for (nn::Parameter* p : model.parameters()) {
    ASSERT_TRUE(golden.contains("param." + p->name)) << p->name;
    nn::assign(*p, golden.read("param." + p->name));
  }
  const LMBatch host_batch = LMBatch::from_packed(golden.read("input_ids"), golden.read("cu_seqlens"));
  const LMBatch batch = host_batch.to(model.device(), DType::F32, config.vocab_size);
  ASSERT_GT(batch.layout.num_seqs(), 1) << "the golden batch must pack several sequences";

  int64_t predicted = 0;
  for (int64_t t = 0; t < host_batch.labels.numel(); ++t)
    predicted += host_batch.labels.data<int32_t>()[t] != kIgnoreIndex;
  testing::expect_loss_matches(model, batch, predicted, golden, name + " on " + device, tol.logits, tol.loss);

  const auto [worst, worst_name] = testing::expect_gradients_match(model.parameters(), golden, tol.grad);
  std::printf("%s on %s: worst gradient rel err %.3g (%s)\n", name.c_str(), device.c_str(), worst,
              worst_name.c_str());
}

INSTANTIATE_TEST_SUITE_P(Models, LlamaGolden,
                         ::testing::Combine(::testing::Values("llama_gqa", "llama_tied"),
                                            ::testing::Values("cpu", "cuda")),
                         [](const auto& test) {
                           return std::get<0>(test.param) + "_" + std::get<1>(test.param);
                         });

}  // namespace
}  // namespace strand
