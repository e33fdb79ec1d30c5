// The ESM-2 encoder on its own terms: finite-difference gradients of the whole model in double precision
// (token dropout, masked inputs, tied and untied heads), bidirectional attention that stays inside each
// sequence, padding as separate segments, token dropout's scaling, recompute, and initialisation.
#include "strand/models/esm2/model.h"

#include "models/model_checks.h"

namespace strand {
namespace {

constexpr int32_t kCls = 0, kPad = 1, kEos = 2, kMask = 32;

Esm2Config tiny_config(bool tied) {
  Esm2Config c;
  c.hidden_size = 8;
  c.intermediate_size = 12;
  c.num_layers = 2;
  c.num_heads = 2;
  c.tie_embeddings = tied;
  c.token_dropout = true;
  c.init_std = 0.5;
  return c;
}

// Three proteins with masked residues.
const std::vector<std::vector<int32_t>> kSequences = {
    {kCls, 5, kMask, 7, 9, 13, kEos}, {kCls, 4, kEos}, {kCls, 10, 12, kMask, kMask, 8, 5, 4, kEos}};

// MLM labels: the original residue at the masked positions.
LMBatch masked_batch() {
  LMBatch b = LMBatch::from_sequences(kSequences);
  int32_t* l = b.labels.data<int32_t>();
  for (int64_t t = 0; t < b.labels.numel(); ++t) l[t] = kIgnoreIndex;
  l[2] = 6;
  l[13] = 11;
  l[14] = 20;
  l[11] = 10;  // an unmasked position may carry a label too (the 10% kept unchanged)
  return b;
}

// Randomises LayerNorm and bias vectors too, so their gradients are not trivially symmetric.
void randomise(Esm2Model& m, uint64_t seed) {
  m.init(seed);
  for (nn::Parameter* p : m.parameters()) {
    if (p->value.rank() != 1) continue;
    p->value.copy_from(testing::random_tensor(p->value.shape(), seed + 99, 0.3));
    if (!p->name.ends_with(".bias"))
      for (int64_t i = 0; i < p->value.numel(); ++i) p->value.data<double>()[i] += 1.0;
  }
}

class Esm2Gradcheck : public ::testing::TestWithParam<bool> {};

TEST_P(Esm2Gradcheck, EveryParameterMatchesFiniteDifferences) {
  Esm2Model model(tiny_config(GetParam()), DType::F64);
  randomise(model, 3);
  testing::expect_gradients_match_finite_differences(model, masked_batch(), 4);
}

INSTANTIATE_TEST_SUITE_P(TiedAndUntied, Esm2Gradcheck, ::testing::Values(false, true));

TEST(Esm2, PackedBatchEqualsSequencesRunAlone) {
  Esm2Model model(tiny_config(false), DType::F64);
  randomise(model, 5);
  testing::expect_packed_equals_alone(model, kSequences);
}

TEST(Esm2, RecomputeGivesIdenticalGradients) {
  testing::expect_recompute_changes_nothing(
      [] {
        auto model = std::make_unique<Esm2Model>(tiny_config(true), DType::F64);
        randomise(*model, 7);
        return model;
      },
      masked_batch());
}

// A right-padded row is its real tokens and, as a segment of its own, the pad tail: the real tokens' logits
// are those of the unpadded sequence.
TEST(Esm2, PadTailAsItsOwnSegmentChangesNothing) {
  Esm2Model model(tiny_config(true), DType::F64);
  randomise(model, 9);
  Arena arena;
  const LMBatch alone = LMBatch::from_sequences({kSequences[0]});
  const Tensor expected = model.forward(arena, alone.tokens, alone.layout).clone();
  std::vector<int32_t> row = kSequences[0];
  row.insert(row.end(), 3, kPad);
  const SeqLayout padded = SeqLayout::from_lengths(std::vector<int64_t>{7, 3});
  const LMBatch b = LMBatch::from_sequences({row});
  arena.reset();
  const Tensor logits = model.forward(arena, b.tokens, padded);
  EXPECT_LT(testing::max_rel_error(logits.narrow(0, 0, 7).contiguous(), expected), 1e-13);
}

// Token dropout: with no mask token every embedding is scaled by 1 - 0.12; masking m of n tokens zeroes them
// and scales the rest by 0.88 / (1 - m/n). representations(layer 0) is that scaled embedding.
TEST(Esm2, TokenDropoutScalesTheEmbedding) {
  Esm2Model model(tiny_config(true), DType::F64);
  randomise(model, 11);
  const Tensor table = model.parameters().front()->value;
  for (const auto& seq :
       {std::vector<int32_t>{kCls, 5, 7, 9, kEos}, std::vector<int32_t>{kCls, 5, kMask, 9, kEos}}) {
    Arena arena;
    const LMBatch b = LMBatch::from_sequences({seq});
    const Tensor h = model.representations(arena, b.tokens, b.layout, 0);
    int masked = 0;
    for (int32_t t : seq) masked += t == kMask;
    const double scale = (1 - 0.12) / (1 - static_cast<double>(masked) / static_cast<double>(seq.size()));
    for (size_t t = 0; t < seq.size(); ++t)
      for (int64_t c = 0; c < 8; ++c) {
        const double want = seq[t] == kMask ? 0.0 : scale * table.item(seq[t] * 8 + c);
        EXPECT_NEAR(h.item(static_cast<int64_t>(t) * 8 + c), want, 1e-14) << "token " << t;
      }
  }
}

TEST(Esm2, InitFollowsTransformersAndNamesMatchCheckpoints) {
  Esm2Model model(tiny_config(false));
  model.init(42);
  const nn::ParameterList params = model.parameters();
  EXPECT_EQ(params.front()->name, "esm.embeddings.word_embeddings.weight");
  for (int64_t c = 0; c < 8; ++c) EXPECT_EQ(params.front()->value.item(kPad * 8 + c), 0.0);  // padding row
  std::vector<std::string> names;
  for (nn::Parameter* p : params) {
    names.push_back(p->name);
    if (p->value.rank() == 1) {
      EXPECT_EQ(p->value.item(0), p->name.ends_with(".bias") ? 0.0 : 1.0) << p->name;
      EXPECT_FALSE(p->decay) << p->name;
    }
  }
  for (const char* expected :
       {"esm.encoder.layer.0.attention.self.query.weight", "esm.encoder.layer.0.attention.self.key.bias",
        "esm.encoder.layer.0.attention.output.dense.weight", "esm.encoder.layer.0.attention.LayerNorm.weight",
        "esm.encoder.layer.1.intermediate.dense.bias", "esm.encoder.layer.1.output.dense.weight",
        "esm.encoder.layer.1.LayerNorm.bias", "esm.encoder.emb_layer_norm_after.weight",
        "lm_head.dense.weight", "lm_head.layer_norm.bias", "lm_head.decoder.weight", "lm_head.bias"})
    EXPECT_NE(std::find(names.begin(), names.end(), expected), names.end()) << expected;
  Esm2Model tied(tiny_config(true));
  EXPECT_EQ(tied.parameters().size(), params.size() - 1);  // the decoder reads the embedding
  EXPECT_EQ(model.contact_weight().shape(), (Shape{1, 4}));
}

TEST(Esm2, RejectsInvalidConfigAndTokens) {
  Esm2Config c = tiny_config(false);
  c.num_heads = 3;
  EXPECT_THROW(Esm2Model{c}, Error);
  c = tiny_config(false);
  c.mask_token_id = 40;
  EXPECT_THROW(Esm2Model{c}, Error);
  Esm2Model model(tiny_config(false));
  model.init(1);
  Arena arena;
  const LMBatch b = LMBatch::from_sequences({{kCls, 33}});
  EXPECT_THROW(model.forward(arena, b.tokens, b.layout), Error);
}

}  // namespace
}  // namespace strand
