// The recipe fields of `strand train`: the data keys of masked-LM (ESM-2) training.
#include "strand/train/train_config.h"

#include "expect_error.h"

#include <gtest/gtest.h>

namespace strand {
namespace {

using testing::error_of;

struct BoundConfig {
  BoundConfig() { config.bind(schema); }
  TrainConfig config;
  ConfigSchema schema;
};

TEST(TrainConfig, MaskedLmDataKeysAndDefaults) {
  BoundConfig b;
  const TrainConfig& c = b.config;
  EXPECT_EQ(c.data.objective, "auto");
  EXPECT_FALSE(c.data.truncate);
  EXPECT_EQ(c.data.mlm_probability, 0.15);
  EXPECT_EQ(c.data.mask_replace_prob, 0.8);
  EXPECT_EQ(c.data.random_replace_prob, 0.1);
  const std::string help = b.schema.help();
  for (const char* key : {"data.objective", "data.truncate", "data.mlm_probability", "data.mask_replace_prob",
                          "data.random_replace_prob"})
    EXPECT_CONTAINS(help, key);
  EXPECT_CONTAINS(help, "auto|causal|masked");
  EXPECT_CONTAINS(help, "esm (ESM-2 proteins");

  b.schema.apply_overrides({"data.tokenizer=esm", "data.objective=masked", "data.truncate=true",
                            "data.mlm_probability=0.2", "data.mask_replace_prob=0.7",
                            "data.random_replace_prob=0.2"});
  EXPECT_EQ(c.data.tokenizer, "esm");
  EXPECT_TRUE(c.data.truncate);
  EXPECT_EQ(c.data.mlm_probability, 0.2);
  EXPECT_EQ(c.data.mask_replace_prob, 0.7);
  EXPECT_EQ(c.data.random_replace_prob, 0.2);
  EXPECT_CONTAINS(error_of([&] { b.schema.apply_override("data.objective=bert"); }), "data.objective");
}

// auto: masked-token prediction for the ESM-2 encoder, next-token prediction for every decoder.
TEST(TrainConfig, ObjectiveFollowsTheArchitectureUnlessSet) {
  BoundConfig b;
  TrainConfig& c = b.config;
  EXPECT_EQ(c.model.arch, "llama");
  EXPECT_FALSE(c.masked_lm());
  c.model.arch = "esm2";
  EXPECT_TRUE(c.masked_lm());
  b.schema.apply_override("data.objective=causal");
  EXPECT_FALSE(c.masked_lm());
  c.model.arch = "llama";
  b.schema.apply_override("data.objective=masked");
  EXPECT_TRUE(c.masked_lm());
}

}  // namespace
}  // namespace strand
