// `strand train` over what the data layer hands it: named validation sets with their baselines and the loss
// plot, Megatron datasets holding ids outside the vocabulary, and datasets whose documents already hold BOS
// and EOD.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "run_strand.h"
#include "strand/data/indexed_dataset.h"
#include "temp_dir.h"

namespace strand {
namespace {

namespace fs = std::filesystem;

class TrainDataCli : public testing::TempDirTest {
 protected:
  testing::RunResult run(const std::string& args) const {
    std::vector<std::string> words;
    std::istringstream in(args);
    for (std::string w; in >> w;) words.push_back(w);
    return testing::run_strand(words, dir_.string());
  }
  static std::string excerpt() { return std::string(STRAND_TEST_DATA) + "/data/ecoli_k12_excerpt.fa"; }
  std::string tiny() const {
    return std::string("model.hidden_size=32 model.intermediate_size=64 model.num_hidden_layers=1 ") +
           "model.num_attention_heads=2 model.num_key_value_heads=1 data.max_length=64 batch.tokens=256 " +
           "train.log_every=1 checkpoint.save_every=0 run.tensorboard=false export.hf=false " +
           "train.threads=1 ";
  }
  std::vector<nlohmann::json> metrics(const std::string& run_dir) const {
    std::ifstream in(run_dir + "/metrics.jsonl");
    std::vector<nlohmann::json> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
    return lines;
  }
};

TEST_F(TrainDataCli, NamedValidationSetsAreLoggedApartWithTheirBaselinesAndPlotted) {
  const testing::RunResult r =
      run("train " + tiny() + "train.max_steps=4 train.eval_every=2 data.train=[" + excerpt() +
          "] data.val=[first=" + excerpt() + ",second=" + excerpt() + "] run.dir=" + path("run"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<nlohmann::json> lines = metrics(path("run"));
  int evals = 0;
  for (const nlohmann::json& j : lines) {
    if (!j.contains("val/first/loss")) continue;
    ++evals;
    for (const std::string set : {"first", "second"})
      for (const std::string what : {"loss", "bits_per_base", "unigram_entropy", "markov_loss"})
        EXPECT_TRUE(j.contains("val/" + set + "/" + what)) << set << " " << what << ": " << j.dump();
    EXPECT_FALSE(j.contains("val/loss"));
    // The same file twice: the same figures, and the Markov chain fitted on it beats the unigram entropy.
    EXPECT_EQ(j["val/first/loss"], j["val/second/loss"]);
    EXPECT_LT(j["val/first/markov_loss"].get<double>(), j["val/first/unigram_entropy"].get<double>());
  }
  EXPECT_EQ(evals, 2);  // step 2 and the end
  std::ifstream png(path("run") + "/loss.png", std::ios::binary);
  std::string signature(8, '\0');
  png.read(signature.data(), 8);
  EXPECT_EQ(signature, std::string("\x89PNG\r\n\x1a\n", 8));
}

TEST_F(TrainDataCli, WithoutNamesOneSetKeepsTheValMetricsAndPlotOffWritesNoPicture) {
  const testing::RunResult r =
      run("train " + tiny() + "train.max_steps=2 train.eval_every=0 data.train=[" + excerpt() +
          "] data.val=[" + excerpt() + "] run.plot=false " + "train.markov_order=0 run.dir=" + path("run"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json last = metrics(path("run")).back();
  EXPECT_TRUE(last.contains("val/loss")) << last.dump();
  EXPECT_TRUE(last.contains("val/unigram_entropy"));
  EXPECT_FALSE(last.contains("val/markov_loss"));
  EXPECT_FALSE(fs::exists(path("run") + "/loss.png"));
}

TEST_F(TrainDataCli, AnIdOutsideTheVocabularyNamesTheFileAndDocument) {
  {
    data::IndexedDatasetWriter w(path("ds"), DType::U16);
    w.add_document(std::vector<int32_t>(100, 65));
    std::vector<int32_t> bad(100, 67);
    bad[40] = 300;
    w.add_document(bad);
    w.finish();
  }
  const testing::RunResult r = run("train " + tiny() + "train.max_steps=20 train.eval_every=0 data.train=[" +
                                   path("ds") + "] data.val=[] run.dir=" + path("run"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.err.rfind("strand: error: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(path("ds") + ".bin: document 1 holds token id 300 at position 40"), std::string::npos)
      << r.err;
}

TEST_F(TrainDataCli, DocumentsPreprocessedWithBosAndEodGetNoSecondPair) {
  testing::RunResult r =
      run("preprocess " + excerpt() + " --output-prefix " + path("pre") + " --add-bos --append-eod");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(path("pre_text_document.strand.json")));
  EXPECT_NE(r.out.find("training on this dataset adds none again"), std::string::npos) << r.out;
  r = run("train " + tiny() + "train.max_steps=2 train.eval_every=0 data.train=[" +
          path("pre_text_document") + "] data.val=[] run.dir=" + path("run"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find(path("pre_text_document") + " already hold BOS/EOD"), std::string::npos) << r.err;
  // Without the sidecar (a dataset from another tool) training adds its pair as configured.
  fs::remove(path("pre_text_document.strand.json"));
  r = run("train " + tiny() + "train.max_steps=2 train.eval_every=0 data.train=[" +
          path("pre_text_document") + "] data.val=[] run.dir=" + path("run2"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("already hold BOS/EOD"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace strand
