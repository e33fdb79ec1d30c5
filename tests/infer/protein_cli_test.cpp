// `strand embed` and `strand score` on a protein (ESM-2) model, run as a user would: the real binary on a
// model directory written by the library, checked against the library's own computation.
#include "strand/infer/masked_scoring.h"
#include "strand/interop/hf_checkpoint.h"
#include "strand/io/safetensors.h"
#include "strand/models/esm2/model.h"
#include "strand/models/llama/model.h"

#include "run_strand.h"
#include "temp_dir.h"
#include "tiny_esm2.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <string>
#include <vector>

namespace strand::infer {
namespace {

using testing::RunResult;

constexpr const char* kWildType = "VCIHTENQNQVSFYPFVLHEISVLIELTLGHLRYRLTDVPPQPNSQPDSATNYVWML";

class ProteinCliTest : public testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    Esm2Model model(testing::tiny_esm2_config(2));
    model.init(5);
    interop::save_hf_model(model, path("model"));
    std::ofstream(path("wt.fa")) << ">wt some protein\n" << kWildType << "\n";
    std::ofstream(path("two.fa")) << ">a\nMKTAYIAKQRQISFVKSHFSRQ\n>b\nMLSDEDFKAV\n";
  }
  RunResult run(const std::vector<std::string>& args) const {
    return testing::run_strand(args, dir_.string());
  }
};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1)
    out.push_back(text.substr(start, end - start));
  return out;
}

TEST_F(ProteinCliTest, EmbedWritesMeanAndPerResidueEmbeddings) {
  RunResult r =
      run({"embed", "--model", path("model"), "--input", path("two.fa"), "--output", path("mean.st")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const io::SafetensorsFile mean = io::SafetensorsFile::open(path("mean.st"));
  EXPECT_EQ(mean.info("embeddings").shape, (Shape{2, 16}));
  EXPECT_EQ(nlohmann::json::parse(mean.metadata().at("ids")), nlohmann::json({"a", "b"}));
  EXPECT_EQ(nlohmann::json::parse(mean.metadata().at("lengths")), nlohmann::json({22, 10}));
  EXPECT_EQ(mean.metadata().at("layer"), "2");

  r = run({"embed", "--model", path("model"), "--input", path("two.fa"), "--output", path("res.st"),
           "--pooling", "per-residue", "--batch-tokens", "8"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const io::SafetensorsFile res = io::SafetensorsFile::open(path("res.st"));
  const Tensor a = res.read("residues.0");
  ASSERT_EQ(a.shape(), (Shape{22, 16}));
  EXPECT_EQ(res.info("residues.1").shape, (Shape{10, 16}));
  // The mean of the per-residue rows (computed in separate batches here) is the mean embedding.
  const Tensor m = mean.read("embeddings");
  for (int64_t c = 0; c < 16; ++c) {
    double sum = 0;
    for (int64_t t = 0; t < 22; ++t) sum += a.item(t * 16 + c);
    EXPECT_NEAR(sum / 22, m.item(c), 1e-5);
  }
}

TEST_F(ProteinCliTest, EmbedRejectsOrTruncatesRecordsPastThePositions) {
  std::ofstream(path("long.fa")) << ">long\n" << kWildType << "\n";
  RunResult r =
      run({"embed", "--model", path("model"), "--input", path("long.fa"), "--output", path("x.st")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("long.fa:1: record 'long' has 59 tokens"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(path("x.st")));
  r = run({"embed", "--model", path("model"), "--input", path("long.fa"), "--output", path("x.st"),
           "--truncate"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(io::SafetensorsFile::open(path("x.st")).metadata().at("lengths")),
            nlohmann::json({38}));
}

TEST_F(ProteinCliTest, ScoreGivesMaskedMarginalsOfTheListedMutations) {
  // A wild type that fits the tiny model's 40 positions.
  const std::string wt = std::string(kWildType).substr(0, 30);
  std::ofstream(path("wt30.fa")) << ">wt\n" << wt << "\n";
  std::ofstream(path("muts.csv")) << "mutant,DMS_score\nC2A,0.5\nH4W:Q10E,1.0\n# a comment\n\nwt E20K\n";
  const RunResult r = run({"score", "--model", path("model"), "--input", path("wt30.fa"), "--mutations",
                           path("muts.csv"), "--output", path("scores.tsv")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(path("scores.tsv"));
  const std::string text((std::istreambuf_iterator<char>(in)), {});
  const auto rows = lines_of(text);
  ASSERT_EQ(rows.size(), 4u) << text;
  EXPECT_EQ(rows[0], "id\tmutant\tscore");
  const auto model = interop::load_hf_model_as<Esm2Model>(path("model"));
  std::vector<int32_t> tokens = {0};
  const std::string residues = "LAGVSERTIDPKQNFYMHWCXBUZO.-";
  for (const char c : wt) tokens.push_back(static_cast<int32_t>(residues.find(c)) + 4);
  tokens.push_back(2);
  Arena arena;
  const std::vector<double> expected = masked_marginal_scores(
      *model, arena, tokens, {parse_mutations("C2A"), parse_mutations("H4W:Q10E"), parse_mutations("E20K")},
      [&](char c) { return static_cast<int32_t>(residues.find(c)) + 4; }, MaskedScoringOptions{});
  const char* names[] = {"C2A", "H4W:Q10E", "E20K"};
  for (size_t i = 0; i < 3; ++i) {
    const auto cols = rows[i + 1];
    EXPECT_EQ(cols.substr(0, cols.rfind('\t')), std::string("wt\t") + names[i]);
    EXPECT_NEAR(std::stod(cols.substr(cols.rfind('\t') + 1)), expected[i], 1e-5) << cols;
  }
}

TEST_F(ProteinCliTest, ScoreNamesAMutationThatDisagreesWithTheSequence) {
  std::ofstream(path("wt30.fa")) << ">wt\n" << std::string(kWildType).substr(0, 30) << "\n";
  std::ofstream(path("bad.txt")) << "C2A\nA3G\n";
  const RunResult r = run({"score", "--model", path("model"), "--input", path("wt30.fa"), "--mutations",
                           path("bad.txt"), "--output", path("scores.tsv")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("mutation A3G: residue 3 of the sequence is not A"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(path("scores.tsv")));
}

TEST_F(ProteinCliTest, ScoreWithoutMutationsGivesPseudoLogLikelihoods) {
  const RunResult r = run({"score", "--model", path("model"), "--input", path("two.fa")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto rows = lines_of(r.out);
  ASSERT_EQ(rows.size(), 3u) << r.out;
  EXPECT_EQ(rows[0], "id\tlength\tpll\tmean_pll");
  EXPECT_EQ(rows[1].substr(0, 5), "a\t22\t");
  EXPECT_EQ(rows[2].substr(0, 5), "b\t10\t");
}

}  // namespace
}  // namespace strand::infer
