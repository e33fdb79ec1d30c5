// The gradients-ready hook a data-parallel trainer reduces from (train/gradient_sync.h): each backward
// reports every parameter exactly once, the blocks' as each block finishes (the last block first) and the
// rest, the embedding among them, at the end, after a tied head has added to it.
#include "strand/models/esm2/model.h"
#include "strand/models/llama/model.h"

#include "infer/tiny_llama.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace strand {
namespace {

// Reports per backward: each parameter's name with the index of the report it came in.
std::map<std::string, std::vector<size_t>> reports_of_one_backward(LanguageModel& model,
                                                                   const std::vector<int32_t>& sequence) {
  model.init(3);
  std::map<std::string, std::vector<size_t>> seen;
  size_t report = 0;
  model.set_gradients_ready([&](const nn::ParameterList& params) {
    for (const nn::Parameter* p : params) seen[p->name].push_back(report);
    ++report;
  });
  Arena arena;
  const LMBatch batch = LMBatch::from_sequences({sequence});
  lm_loss(model, arena, batch, 1.0);
  model.set_gradients_ready({});
  return seen;
}

void expect_each_parameter_once_and_the_embedding_last(LanguageModel& model, const std::string& embedding) {
  const auto seen = reports_of_one_backward(model, {2, 5, 7, 9, 11, 3, 0});
  size_t last = 0;
  for (const auto& [name, reports] : seen) last = std::max(last, reports.back());
  for (const nn::Parameter* p : model.parameters()) {
    ASSERT_TRUE(seen.count(p->name)) << p->name << " never reported";
    EXPECT_EQ(seen.at(p->name).size(), 1u) << p->name;
  }
  EXPECT_EQ(seen.size(), model.parameters().size());
  EXPECT_EQ(seen.at(embedding).front(), last);
  EXPECT_EQ(last, static_cast<size_t>(model.num_layers()));  // one report per block, then the rest
}

TEST(GradientsReady, LlamaReportsEveryParameterOnce) {
  for (const bool tied : {false, true}) {
    SCOPED_TRACE(tied ? "tied" : "untied");
    LlamaModel model(testing::tiny_llama_config(tied));
    expect_each_parameter_once_and_the_embedding_last(model, "model.embed_tokens.weight");
  }
}

TEST(GradientsReady, Esm2ReportsEveryParameterOnce) {
  for (const bool tied : {false, true}) {
    SCOPED_TRACE(tied ? "tied" : "untied");
    Esm2Config c;
    c.hidden_size = 8;
    c.intermediate_size = 16;
    c.num_layers = 2;
    c.num_heads = 2;
    c.tie_embeddings = tied;
    Esm2Model model(c);
    expect_each_parameter_once_and_the_embedding_last(model, "esm.embeddings.word_embeddings.weight");
  }
}

}  // namespace
}  // namespace strand
