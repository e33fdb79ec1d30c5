// A model whose weights hold NaN makes NaN scores and embeddings: `strand score` and `strand embed` stop
// with an error naming the first record it reached, exit 1, and write no output.
#include "strand/interop/hf_checkpoint.h"
#include "strand/models/esm2/model.h"

#include "infer/tiny_esm2.h"
#include "infer/tiny_llama.h"
#include "run_strand.h"
#include "temp_dir.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace strand::infer {
namespace {

using testing::RunResult;

// The model's final norm weight set to NaN, so that every output is NaN.
void poison_final_norm(LanguageModel& model) {
  for (nn::Parameter* p : model.parameters()) {
    if (p->name.find("norm") == std::string::npos || p->name.find("layers.") != std::string::npos) continue;
    float* v = p->value.data<float>();
    std::fill(v, v + p->value.numel(), NAN);
    return;
  }
  FAIL() << "no final norm parameter";
}

class NanModelCliTest : public testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    LlamaModel llama(testing::tiny_llama_config());
    llama.init(3);
    poison_final_norm(llama);
    interop::save_hf_model(llama, path("llama"));
    Esm2Model esm(testing::tiny_esm2_config());
    esm.init(3);
    poison_final_norm(esm);
    interop::save_hf_model(esm, path("esm"));
    std::ofstream(path("dna.fa")) << ">first\nACGTACGT\n>second\nGGAT\n";
    std::ofstream(path("protein.fa")) << ">p1\nMKTAYIAKQR\n";
    std::ofstream(path("muts.txt")) << "K2A\n";
  }
  RunResult run(const std::vector<std::string>& args) const {
    return testing::run_strand(args, dir_.string());
  }

  void expect_error_naming(const std::vector<std::string>& args, const std::string& where) const {
    SCOPED_TRACE(args[0] + " " + args[2]);
    const RunResult r = run(args);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err.rfind("strand: error: " + where, 0), 0u) << r.err;
    EXPECT_NE(r.err.find("NaN"), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
};

TEST_F(NanModelCliTest, ScoresAndEmbeddingsThatAreNanAreErrorsNamingTheRecord) {
  expect_error_naming(
      {"score", "--model", path("llama"), "--input", path("dna.fa"), "--output", path("s.tsv")},
      path("dna.fa") + ":1: record 'first': the log-likelihood is NaN");
  expect_error_naming(
      {"score", "--model", path("esm"), "--input", path("protein.fa"), "--output", path("p.tsv")},
      path("protein.fa") + ":1: record 'p1': the pseudo-log-likelihood is NaN");
  expect_error_naming({"score", "--model", path("esm"), "--input", path("protein.fa"), "--mutations",
                       path("muts.txt"), "--output", path("m.tsv")},
                      path("muts.txt") + ":1: record 'p1': the score of K2A is NaN");
  expect_error_naming(
      {"embed", "--model", path("llama"), "--input", path("dna.fa"), "--output", path("e.st")},
      path("dna.fa") + ":1: record 'first': its embedding holds NaN");
  for (const char* out : {"s.tsv", "p.tsv", "m.tsv", "e.st"})
    EXPECT_FALSE(std::filesystem::exists(path(out)));
}

}  // namespace
}  // namespace strand::infer
