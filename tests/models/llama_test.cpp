// The Llama model on its own terms: finite-difference gradients of the whole model in double precision,
// packing semantics, and initialisation.
#include "strand/models/llama/model.h"

#include "models/model_checks.h"

namespace strand {
namespace {

LlamaConfig tiny_config(bool tied) {
  LlamaConfig c;
  c.vocab_size = 11;
  c.hidden_size = 8;
  c.intermediate_size = 12;
  c.num_layers = 2;
  c.num_heads = 2;
  c.num_kv_heads = tied ? 2 : 1;
  c.head_dim = 4;
  c.rope = {500000.0, 0, 8.0, 1.0, 4.0, 4};
  if (tied) c.rope.factor = 0;
  c.tie_embeddings = tied;
  c.init_std = 0.5;
  c.pad_token_id = 1;
  return c;
}

const std::vector<std::vector<int32_t>> kSequences = {{2, 5, 7, 7, 9, 0}, {2, 4}, {2, 10, 3, 6, 8, 5, 4, 0}};

// Randomises norm weights too, so their gradients are not trivially symmetric.
void randomise(LlamaModel& m, uint64_t seed) {
  m.init(seed);
  for (nn::Parameter* p : m.parameters())
    if (p->value.rank() == 1) p->value.copy_from(testing::random_tensor(p->value.shape(), seed + 99, 0.3));
  for (nn::Parameter* p : m.parameters())
    if (p->value.rank() == 1)
      for (int64_t i = 0; i < p->value.numel(); ++i) p->value.data<double>()[i] += 1.0;
}

class LlamaGradcheck : public ::testing::TestWithParam<bool> {};

TEST_P(LlamaGradcheck, EveryParameterMatchesFiniteDifferences) {
  LlamaModel model(tiny_config(GetParam()), DType::F64);
  randomise(model, 3);
  testing::expect_gradients_match_finite_differences(model, LMBatch::from_sequences(kSequences),
                                                     13);  // predicted tokens: 5 + 1 + 7
}

INSTANTIATE_TEST_SUITE_P(TiedAndUntied, LlamaGradcheck, ::testing::Values(false, true));

TEST(Llama, PackedBatchEqualsSequencesRunAlone) {
  LlamaModel model(tiny_config(false), DType::F64);
  randomise(model, 5);
  testing::expect_packed_equals_alone(model, kSequences);
}

TEST(Llama, RecomputeGivesIdenticalGradients) {
  testing::expect_recompute_changes_nothing(
      [] {
        auto model = std::make_unique<LlamaModel>(tiny_config(false), DType::F64);
        randomise(*model, 5);
        return model;
      },
      LMBatch::from_sequences(kSequences));
}

TEST(Llama, LabelsNeverCrossSequenceBoundaries) {
  const LMBatch b = LMBatch::from_sequences(kSequences);
  const int32_t* l = b.labels.data<int32_t>();
  const int32_t expect[16] = {5, 7, 7, 9, 0, kIgnoreIndex, 4, kIgnoreIndex, 10, 3,
                              6, 8, 5, 4, 0, kIgnoreIndex};
  for (int t = 0; t < 16; ++t) EXPECT_EQ(l[t], expect[t]) << t;
}

TEST(Llama, InitIsDeterministicAndFollowsTransformers) {
  LlamaModel a(tiny_config(false)), b(tiny_config(false));
  a.init(42);
  b.init(42);
  for (size_t i = 0; i < a.parameters().size(); ++i)
    EXPECT_EQ(testing::max_rel_error(a.parameters()[i]->value, b.parameters()[i]->value), 0.0);
  const nn::Parameter& embed = *a.parameters()[0];
  EXPECT_EQ(embed.name, "model.embed_tokens.weight");
  for (int64_t c = 0; c < 8; ++c) EXPECT_EQ(embed.value.item(1 * 8 + c), 0.0);  // padding row
  for (nn::Parameter* p : a.parameters()) {
    if (p->value.rank() == 1) {
      EXPECT_EQ(p->value.item(0), 1.0) << p->name;
      EXPECT_FALSE(p->decay) << p->name;
    }
  }
  const nn::Parameter& q = *a.parameters()[2];
  EXPECT_EQ(q.name, "model.layers.0.self_attn.q_proj.weight");
  double ss = 0;
  for (int64_t i = 0; i < q.value.numel(); ++i) ss += q.value.item(i) * q.value.item(i);
  EXPECT_NEAR(std::sqrt(ss / static_cast<double>(q.value.numel())), 0.5, 0.15);
}

TEST(Llama, TiedModelHasNoSeparateHead) {
  LlamaModel tied(tiny_config(true));
  for (nn::Parameter* p : tied.parameters()) EXPECT_NE(p->name, "lm_head.weight");
  LlamaModel untied(tiny_config(false));
  EXPECT_EQ(untied.parameters().back()->name, "lm_head.weight");
  EXPECT_EQ(untied.parameters().size(), tied.parameters().size() + 1);
}

TEST(Llama, RejectsInvalidConfigAndTokens) {
  LlamaConfig c = tiny_config(false);
  c.num_kv_heads = 3;
  EXPECT_THROW(LlamaModel{c}, Error);
  LlamaModel model(tiny_config(false));
  model.init(1);
  Arena arena;
  EXPECT_THROW(model.forward(arena, LMBatch::from_sequences({{2, 11}}).tokens,
                             LMBatch::from_sequences({{2, 11}}).layout),
               Error);
}

}  // namespace
}  // namespace strand
