// Parity with transformers' EsmForMaskedLM: golden logits, masked-LM loss, every parameter gradient, the
// hidden states of every layer, masked-marginal mutation scores and a pseudo-log-likelihood, produced by
// tools/make_esm2_golden.py (transformers, float64) and committed under tests/golden/. Strand runs the
// proteins PACKED into one batch and must agree, on the CPU in float32, to:
//   logits and hidden states: max |a - b| / max |b| <= 1e-4;  loss: relative 1e-5;
//   each gradient: ||a - b|| / ||b|| <= 1e-3;  scores: absolute 1e-4 (nats);
// and on CUDA in bfloat16 (F32 master weights) to:
//   logits and hidden states: max rel 3e-2;  loss: relative 1e-2;  each gradient: 5e-2;  scores: 5e-2.
#include "strand/core/device_memory.h"
#include "strand/infer/masked_scoring.h"
#include "strand/io/safetensors.h"
#include "strand/models/esm2/hf_config.h"
#include "strand/models/esm2/model.h"

#include <gtest/gtest.h>

#include "models/golden_checks.h"

#include <cstdio>
#include <string>
#include <tuple>

namespace strand {
namespace {

// ESM-2's residue letters by token id (4 .. 30), as transformers' EsmTokenizer has them.
constexpr std::string_view kResidues = "LAGVSERTIDPKQNFYMHWCXBUZO.-";

int32_t residue_id(char c) {
  const size_t i = kResidues.find(c);
  return i == std::string_view::npos ? -1 : static_cast<int32_t>(i + 4);
}

struct Tolerances {
  double logits, loss, grad, score;
};

class Esm2Golden : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(Esm2Golden, MatchesTransformers) {
  const auto& [name, device] = GetParam();
  const bool cuda = device == "cuda";
  if (cuda && cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device on this machine";
  const Tolerances tol = cuda ? Tolerances{3e-2, 1e-2, 5e-2, 5e-2} : Tolerances{1e-4, 1e-5, 1e-3, 1e-4};
  const std::string path = testing::golden_path(name);
  const io::SafetensorsFile golden = io::SafetensorsFile::open(path);
  const auto& meta = golden.metadata();
  ASSERT_TRUE(meta.count("config")) << path << " has no config metadata";
  const Esm2Config config = esm2_config_from_hf(nlohmann::json::parse(meta.at("config")), path);

  Esm2Model model(config, cuda ? nn::Placement::cuda(DType::BF16) : nn::Placement(DType::F32));
  for (nn::Parameter* p : model.parameters()) {
    ASSERT_TRUE(golden.contains("param." + p->name)) << p->name;
    nn::assign(*p, golden.read("param." + p->name));
  }
  LMBatch host;
  host.tokens = golden.read("input_ids");
  host.labels = golden.read("labels");
  host.layout = SeqLayout::from_cu_seqlens(golden.read("cu_seqlens"));
  ASSERT_GT(host.layout.num_seqs(), 1) << "the golden batch must pack several proteins";
  const LMBatch batch = host.to(model.device(), DType::F32, config.vocab_size);
  int64_t labelled = 0;
  for (int64_t t = 0; t < host.labels.numel(); ++t)
    labelled += host.labels.data<int32_t>()[t] != kIgnoreIndex;

  testing::expect_loss_matches(model, batch, labelled, golden, name + " on " + device, tol.logits, tol.loss);

  Arena arena(size_t{1} << 20, model.device());
  const auto [worst, worst_name] = testing::expect_gradients_match(model.parameters(), golden, tol.grad);
  std::printf("%s on %s: worst gradient rel err %.3g (%s)\n", name.c_str(), device.c_str(), worst,
              worst_name.c_str());

  double worst_hidden = 0;
  for (int64_t layer = 0; layer <= config.num_layers; ++layer) {
    arena.reset();
    const Tensor h = model.representations(arena, batch.tokens, batch.layout, layer);
    const testing::Errors e = testing::compare(h, golden.read("hidden." + std::to_string(layer)));
    EXPECT_LE(e.max_rel(), tol.logits) << "hidden state " << layer;
    worst_hidden = std::max(worst_hidden, e.max_rel());
  }
  std::printf("%s on %s: hidden states max rel err %.3g\n", name.c_str(), device.c_str(), worst_hidden);

  const Tensor wt = golden.read("mm.input_ids");
  const std::span<const int32_t> tokens(wt.data<int32_t>(), static_cast<size_t>(wt.numel()));
  std::vector<std::vector<infer::Mutation>> sets;
  const std::string mutations = meta.at("mutations");
  for (size_t start = 0; start < mutations.size();) {
    const size_t end = std::min(mutations.find(',', start), mutations.size());
    sets.push_back(infer::parse_mutations(mutations.substr(start, end - start)));
    start = end + 1;
  }
  infer::MaskedScoringOptions options;
  options.batch_tokens = 3 * wt.numel();  // several masked copies per forward, and more than one forward
  const std::vector<double> scores =
      infer::masked_marginal_scores(model, arena, tokens, sets, residue_id, options);
  const Tensor expected = golden.read("mm.scores");
  ASSERT_EQ(static_cast<int64_t>(scores.size()), expected.numel());
  double worst_score = 0;
  for (size_t i = 0; i < scores.size(); ++i)
    worst_score = std::max(worst_score, std::abs(scores[i] - expected.item(static_cast<int64_t>(i))));
  const double pll = infer::pseudo_log_likelihood(model, arena, tokens, 1, wt.numel() - 1, options);
  const double pll_ref = golden.read("mm.pll").item();
  std::printf("%s on %s: masked marginals max abs err %.3g; pseudo-log-likelihood %.6f vs %.6f\n",
              name.c_str(), device.c_str(), worst_score, pll, pll_ref);
  EXPECT_LE(worst_score, tol.score);
  EXPECT_LE(std::abs(pll - pll_ref), tol.score * static_cast<double>(wt.numel()));
}

INSTANTIATE_TEST_SUITE_P(Models, Esm2Golden,
                         ::testing::Combine(::testing::Values("esm2_tiny", "esm2_untied"),
                                            ::testing::Values("cpu", "cuda")),
                         [](const auto& test) {
                           return std::get<0>(test.param) + "_" + std::get<1>(test.param);
                         });

}  // namespace
}  // namespace strand
