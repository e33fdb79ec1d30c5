// `strand generate` and `strand score` run as a user would: the real binary, its exit code, stdout and
// stderr, checked against the library on the same model directory.
#include "strand/infer/generate.h"
#include "strand/infer/model_tokenizer.h"
#include "strand/infer/score.h"
#include "strand/interop/hf_checkpoint.h"
#include "strand/models/esm2/model.h"
#include "strand/models/llama/model.h"

#include "infer/tiny_llama.h"
#include "io/file_bytes.h"
#include "run_strand.h"
#include "temp_dir.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace strand::infer {
namespace {

using testing::RunResult;

class InferCliTest : public testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    LlamaModel model(testing::tiny_llama_config());
    model.init(9);
    interop::save_hf_model(model, path("model"));
  }

  RunResult run(const std::vector<std::string>& args) const {
    return testing::run_strand(args, dir_.string());
  }
};

TEST_F(InferCliTest, GeneratePrintsPromptAndTheLibrarysContinuation) {
  const RunResult r = run({"generate", "--model", path("model"), "--prompt", "ACGTAC", "--max-new-tokens",
                           "30", "--temperature", "0.8", "--top-k", "50", "--top-p", "0.9", "--seed", "4"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  const auto model = interop::load_hf_model_as<LlamaModel>(path("model"));
  GenerateOptions o;
  o.max_new_tokens = 30;
  o.sampling = {0.8, 50, 0.9, 4};
  const GenerateResult expected = generate(*model, data::Tokenizer::nucleotide(), "ACGTAC", o).front();
  EXPECT_EQ(r.out, "ACGTAC" + expected.text + "\n");
  EXPECT_FALSE(expected.text.empty());
}

TEST_F(InferCliTest, GenerateNumSamplesPrintsOneLinePerSample) {
  const std::vector<std::string> args = {
      "generate", "--model",       path("model"), "--prompt", "ACGTAC", "--max-new-tokens",
      "20",       "--temperature", "1.5",         "--seed",   "7"};
  std::vector<std::string> three = args;
  three.insert(three.end(), {"--num-samples", "3"});
  const RunResult r = run(three);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto model = interop::load_hf_model_as<LlamaModel>(path("model"));
  GenerateOptions o;
  o.max_new_tokens = 20;
  o.num_samples = 3;
  o.sampling = {1.5, 0, 1.0, 7};
  std::string expected;
  for (const GenerateResult& s : generate(*model, data::Tokenizer::nucleotide(), "ACGTAC", o))
    expected += "ACGTAC" + s.text + "\n";
  EXPECT_EQ(r.out, expected);
  // The first line is what a single sample prints.
  const RunResult one = run(args);
  ASSERT_EQ(one.exit_code, 0) << one.err;
  const size_t first_end = r.out.find('\n') + 1;
  EXPECT_EQ(r.out.substr(0, first_end), one.out);
  EXPECT_NE(r.out.substr(first_end, r.out.find('\n', first_end) + 1 - first_end), one.out);  // its own draws
  const RunResult none = run({"generate", "--model", path("model"), "--prompt", "A", "--num-samples", "0"});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_EQ(none.err, "strand: error: num_samples must be >= 1, got 0\n");
}

TEST_F(InferCliTest, GenerateRejectsAnUnknownDevice) {
  for (const char* device : {"gpu", "cuda:", "cuda:x", "cuda:-1"}) {
    const RunResult r = run({"generate", "--model", path("model"), "--prompt", "A", "--device", device});
    EXPECT_NE(r.exit_code, 0) << device;
    EXPECT_NE(r.err.find("expected cpu, cuda or cuda:N, got " + std::string(device)), std::string::npos)
        << r.err;
  }
}

TEST_F(InferCliTest, GenerateUsesTheModelDirectorysTokenizer) {
  data::Tokenizer::nucleotide().write_hf_files(path("model"));
  const RunResult r = run({"generate", "--model", path("model"), "--prompt", "GATTACA", "--max-new-tokens",
                           "12", "--temperature", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto model = interop::load_hf_model_as<LlamaModel>(path("model"));
  GenerateOptions o;
  o.max_new_tokens = 12;
  o.sampling.temperature = 0;
  const data::Tokenizer tokenizer = model_tokenizer(path("model"), "");
  EXPECT_NE(tokenizer.name(), "nucleotide");  // read from the directory
  EXPECT_EQ(r.out, "GATTACA" + generate(*model, tokenizer, "GATTACA", o).front().text + "\n");
}

TEST_F(InferCliTest, GenerateErrorsAreOneLine) {
  const RunResult bad_p = run({"generate", "--model", path("model"), "--prompt", "A", "--top-p", "0"});
  EXPECT_EQ(bad_p.exit_code, 1);
  EXPECT_EQ(bad_p.err, "strand: error: top_p must be in (0, 1] (1 keeps every token), got 0\n");
  const RunResult too_long =
      run({"generate", "--model", path("model"), "--prompt", "A", "--max-new-tokens", "300"});
  EXPECT_EQ(too_long.exit_code, 1);
  EXPECT_NE(too_long.err.find("max_position_embeddings"), std::string::npos) << too_long.err;
  const RunResult wide = run({"generate", "--model", path("model"), "--prompt", "A", "--tokenizer", "char"});
  EXPECT_EQ(wide.exit_code, 1);
  EXPECT_NE(wide.err.find("more than the model's vocabulary of 256"), std::string::npos) << wide.err;
}

TEST_F(InferCliTest, GenerateSamplesTheDnaAlphabetUnlessAnyToken) {
  const std::vector<std::string> hot = {"generate", "--model",       path("model"), "--prompt",
                                        "ACGTAC",   "--temperature", "3",           "--seed",
                                        "2",        "--num-samples", "3",           "--max-new-tokens",
                                        "60"};
  const RunResult dna = run(hot);
  ASSERT_EQ(dna.exit_code, 0) << dna.err;
  EXPECT_EQ(std::count(dna.out.begin(), dna.out.end(), '\n'), 3) << dna.out;
  EXPECT_EQ(dna.out.find_first_not_of("ACGTNacgtn\n"), std::string::npos) << dna.out;
  EXPECT_GT(dna.out.size(), 3 * 7u) << dna.out;  // something was generated
  std::vector<std::string> any = hot;
  any.push_back("--any-token");
  const RunResult bytes = run(any);
  ASSERT_EQ(bytes.exit_code, 0) << bytes.err;
  EXPECT_NE(bytes.out.find_first_not_of("ACGTNacgtn\n"), std::string::npos) << bytes.out;
}

TEST_F(InferCliTest, GeneratePromptOutsideTheAlphabetIsAnError) {
  const RunResult r = run({"generate", "--model", path("model"), "--prompt", "ACGUA"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err,
            "strand: error: prompt character 4 'U' is not in the DNA alphabet of tokenizer 'nucleotide' "
            "(ACGTNacgtn); any_token allows every character of its vocabulary\n");
  const RunResult any = run(
      {"generate", "--model", path("model"), "--prompt", "ACGUA", "--any-token", "--max-new-tokens", "3"});
  EXPECT_EQ(any.exit_code, 0) << any.err;
  EXPECT_EQ(any.out.rfind("ACGUA", 0), 0u) << any.out;
  // The prompt and the new tokens must fit the model's positions (256: BOS + 6 + 250 do not).
  const RunResult too_long =
      run({"generate", "--model", path("model"), "--prompt", "ACGTAC", "--max-new-tokens", "250"});
  EXPECT_EQ(too_long.exit_code, 1);
  EXPECT_EQ(too_long.err,
            "strand: error: the prompt (7 tokens) plus max_new_tokens (250) makes 257 tokens, more than the "
            "model's 256 positions (max_position_embeddings)\n");
}

TEST_F(InferCliTest, ScoreWritesTheLibrarysTsv) {
  const std::string input = path("in.fq");
  std::ofstream(input) << "@r1 desc\nACGTAC\n+\nIIIIII\n@r2\nGGA\n+\nIII\n@r3\nTTTTTTTTTTTTTTTTTTTT\n+\n"
                       << std::string(20, 'I') << "\n";
  const RunResult to_file = run({"score", "--model", path("model"), "--input", input, "--output",
                                 path("out.tsv"), "--batch-tokens", "12"});
  ASSERT_EQ(to_file.exit_code, 0) << to_file.err;
  EXPECT_NE(to_file.err.find("3 records, 35 tokens in 3 batches"), std::string::npos) << to_file.err;
  const RunResult to_stdout =
      run({"score", "--model", path("model"), "--input", input, "--batch-tokens", "12"});
  ASSERT_EQ(to_stdout.exit_code, 0) << to_stdout.err;

  const auto model = interop::load_hf_model_as<LlamaModel>(path("model"));
  auto reader = data::RecordReader::open(input);
  std::string expected = score_tsv_header();
  // The same batches as the binary's: another packing may round the products' last bits differently.
  ScoreOptions options;
  options.batch_tokens = 12;
  score_records(*model, data::Tokenizer::nucleotide(), *reader, options,
                [&](const SequenceScore& s) { expected += score_tsv_row(s); });
  EXPECT_EQ(io::read_text(path("out.tsv")), expected);
  EXPECT_EQ(to_stdout.out, expected);
  EXPECT_EQ(expected.rfind("id\tlength\tsum_logprob\tmean_logprob\nr1\t6\t-", 0), 0u) << expected;
}

TEST_F(InferCliTest, ScoreErrorsNameTheRecordAndLeaveNoOutput) {
  const std::string input = path("in.fa");
  std::ofstream(input) << ">ok\nACGT\n>huge\n" << std::string(300, 'A') << "\n";
  const RunResult r = run({"score", "--model", path("model"), "--input", input, "--output", path("out.tsv")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err.rfind("strand: error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("record 'huge'"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(std::filesystem::exists(path("out.tsv")));
  const RunResult missing = run({"score", "--model", path("model"), "--input", path("nope.fa")});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("nope.fa"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace strand::infer
