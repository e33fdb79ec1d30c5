// A model family registered from a test, the way a new architecture joins strand: one class and one
// registration call. It then trains, initialises, exports and scores through the same command-line paths
// as the built-in families, with no other change to strand.
#include "strand/models/registry.h"
#include "strand/cli/run.h"
#include "strand/core/json.h"
#include "strand/models/hf_config_fields.h"
#include "strand/models/recipe_fields.h"
#include "strand/nn/embedding.h"
#include "strand/nn/linear.h"
#include "strand/train/train_config.h"

#include "expect_error.h"
#include "temp_dir.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace strand {
namespace {

// A bigram model: logits = W_out E[token], each token predicting the next from itself alone.
struct BigramConfig {
  int64_t vocab_size = 256;
  int64_t hidden_size = 16;
  double init_std = 0.02;
};

class BigramModel final : public LanguageModel {
 public:
  BigramModel(const BigramConfig& c, const nn::Placement& placement)
      : config_(c),
        embed_("bigram.embed", c.vocab_size, c.hidden_size, -1, placement),
        head_("bigram.head", c.hidden_size, c.vocab_size, false, placement) {}

  const char* arch() const override { return "bigram"; }
  Tensor forward(Arena& arena, const Tensor& tokens, const SeqLayout&) override {
    return head_.forward(arena, embed_.forward(arena, tokens));
  }
  void backward(Arena& arena, const Tensor& dlogits) override {
    embed_.backward(head_.backward(arena, dlogits));
    report_gradients(parameters());
  }
  nn::ParameterList parameters() override {
    nn::ParameterList out;
    embed_.collect(out);
    head_.collect(out);
    return out;
  }
  int64_t vocab_size() const override { return config_.vocab_size; }
  DType dtype() const override { return DType::F32; }
  Device device() const override { return Device::cpu(); }
  void init(uint64_t seed) override {
    embed_.init(seed, 0, config_.init_std);
    nn::init_normal(head_.weight(), seed, 1, config_.init_std);
  }
  void set_recompute_layers(int64_t) override {}
  Tensor representations(Arena& arena, const Tensor& tokens, const SeqLayout&, int64_t) override {
    return embed_.forward(arena, tokens);
  }
  int64_t num_layers() const override { return 0; }
  int64_t hidden_size() const override { return config_.hidden_size; }
  double training_flops(const std::vector<int64_t>& lengths) const override {
    double tokens = 0;
    for (const int64_t n : lengths) tokens += static_cast<double>(n);
    return 6.0 * static_cast<double>(config_.hidden_size * config_.vocab_size) * tokens;
  }
  const BigramConfig& config() const { return config_; }

 private:
  BigramConfig config_;
  nn::Embedding embed_;
  nn::Linear head_;
};

BigramConfig bigram_config_from_hf(const nlohmann::json& j, const std::string& source) {
  const HfConfigFields f(j, source);
  BigramConfig c;
  c.vocab_size = f.required_integer("vocab_size");
  c.hidden_size = f.required_integer("hidden_size");
  return c;
}

class BigramRecipe final : public ModelRecipe {
 public:
  explicit BigramRecipe(ConfigSchema& s) {
    s.add("model.vocab_size", &config_.vocab_size, 256, "vocabulary size");
    s.add("model.hidden_size", &config_.hidden_size, 16, "embedding width");
  }
  std::unique_ptr<LanguageModel> build(const nn::Placement& placement) const override {
    return std::make_unique<BigramModel>(config_, placement);
  }
  void assign_hf_config(const nlohmann::json& j, const std::string& source) override {
    config_ = bigram_config_from_hf(j, source);
  }

 private:
  BigramConfig config_;
};

class BigramFamily final : public ModelFamily {
 public:
  std::string arch() const override { return "bigram"; }
  std::string description() const override { return "bigram model (tests)"; }
  Objective objective() const override { return Objective::causal; }
  std::string default_tokenizer() const override { return "nucleotide"; }
  std::unique_ptr<ModelRecipe> bind_recipe(ConfigSchema& schema) const override {
    return std::make_unique<BigramRecipe>(schema);
  }
  std::string hf_model_type() const override { return "strand_bigram"; }
  std::unique_ptr<LanguageModel> from_hf_config(const nlohmann::json& j, const std::string& source,
                                                const nn::Placement& placement) const override {
    return std::make_unique<BigramModel>(bigram_config_from_hf(j, source), placement);
  }
  nlohmann::json to_hf_config(const LanguageModel& model, DType) const override {
    const BigramConfig& c = model_of_family<BigramModel>(model, *this).config();
    return {{"model_type", "strand_bigram"}, {"vocab_size", c.vocab_size}, {"hidden_size", c.hidden_size}};
  }
};

int run_cli(std::vector<std::string> args) {
  args.insert(args.begin(), "strand");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  return cli::run(static_cast<int>(argv.size()), argv.data());
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class ModelRegistryTest : public testing::TempDirTest {
 protected:
  static void SetUpTestSuite() { register_model_family(std::make_unique<BigramFamily>()); }
};

TEST_F(ModelRegistryTest, ATestFamilyTrainsInitsExportsAndScoresThroughTheCommandLine) {
  const std::string fasta = std::string(STRAND_TEST_DATA) + "/data/ecoli_k12_excerpt.fa";
  ASSERT_EQ(
      run_cli({"train", "model.arch=bigram", "model.hidden_size=8", "train.max_steps=6", "train.log_every=3",
               "train.eval_every=0", "train.eval_batches=1", "train.threads=1", "schedule.warmup_steps=1",
               "data.max_length=64", "batch.tokens=256", "data.train=[" + fasta + "]",
               "data.val=[" + fasta + "]", "run.tensorboard=false", "run.dir=" + path("run")}),
      0);
  const std::string exported = path("run") + "/hf";
  const nlohmann::json config = read_json_file(exported + "/config.json");
  EXPECT_EQ(config.at("model_type"), "strand_bigram");
  EXPECT_EQ(config.at("hidden_size"), 8);
  EXPECT_TRUE(std::filesystem::exists(exported + "/model.safetensors"));

  ASSERT_EQ(run_cli({"score", "--model", exported, "--input", fasta, "--output", path("scores.tsv")}), 0);
  const std::string scores = read_text(path("scores.tsv"));
  EXPECT_EQ(scores.rfind("id\tlength\tsum_logprob\tmean_logprob\n", 0), 0u) << scores;
  EXPECT_GT(std::count(scores.begin(), scores.end(), '\n'), 1) << scores;

  {
    std::ofstream(path("bigram.json"))
        << R"({"model_type": "strand_bigram", "vocab_size": 256, "hidden_size": 4})";
  }
  ASSERT_EQ(run_cli({"init", "--config", path("bigram.json"), "--seed", "3", "--out", path("init")}), 0);
  EXPECT_EQ(read_json_file(path("init") + "/config.json").at("hidden_size"), 4);
  ASSERT_EQ(run_cli({"score", "--model", path("init"), "--input", fasta, "--output", path("init.tsv")}), 0);
}

TEST_F(ModelRegistryTest, TheFamilyBindsOnlyItsOwnRecipeFields) {
  TrainConfig c;
  ConfigSchema s;
  load_train_config(c, s, "", {"model.arch=bigram", "model.hidden_size=12"});
  EXPECT_EQ(c.model.arch, "bigram");
  EXPECT_CONTAINS(s.help(), "model.hidden_size");
  EXPECT_EQ(s.help().find("model.rms_norm_eps"), std::string::npos);
  EXPECT_CONTAINS(testing::error_of([] {
                    TrainConfig other;
                    ConfigSchema schema;
                    load_train_config(other, schema, "", {"model.arch=bigram", "model.rms_norm_eps=1e-6"});
                  }),
                  "unknown key 'model.rms_norm_eps'");
  EXPECT_CONTAINS(testing::error_of([] { model_family("bigramm"); }), "did you mean 'bigram'");
  EXPECT_CONTAINS(testing::error_of([] { register_model_family(std::make_unique<BigramFamily>()); }),
                  "registered twice");
}

}  // namespace
}  // namespace strand
