// Masked-LM masking: HF DataCollatorForLanguageModeling's statistics, specials never selected, Philox keys.
#include "strand/data/mlm_masking.h"

#include "strand/ops/loss.h"

#include "expect_error.h"

#include <gtest/gtest.h>

#include <array>
#include <set>

namespace strand::data {
namespace {

using testing::error_of;

// A protein-like example: <cls>, `residues` tokens cycling through the 25 residue ids, <eos>.
std::vector<int32_t> example(int64_t residues) {
  std::vector<int32_t> e = {0};
  for (int64_t i = 0; i < residues; ++i) e.push_back(static_cast<int32_t>(4 + (i * 7) % 25));
  e.push_back(2);
  return e;
}

struct Masked {
  std::vector<int32_t> tokens, labels;
};

Masked mask(const MlmMasker& masker, std::vector<int32_t> tokens, MaskDraws draws) {
  Masked m{std::move(tokens), {}};
  m.labels.resize(m.tokens.size());
  masker.mask(m.tokens, m.labels, draws);
  return m;
}

// 2,000 examples of 100 residues: 200,000 selectable tokens, so the 15% selection has a standard deviation of
// 0.08% and the 80/10/10 split (of about 30,000 tokens) one below 0.25%; the tolerances are over 5 of them.
TEST(MlmMasking, SelectsFifteenPercentAndSplitsThemEightyTenTen) {
  const Tokenizer tok = Tokenizer::esm();
  const MlmMasker masker(tok, {});
  const uint64_t key = mlm_epoch_key(1234, 0);
  int64_t selectable = 0, selected = 0, to_mask = 0, unchanged = 0, other = 0;
  std::array<int64_t, 33> other_ids{};
  for (uint64_t i = 0; i < 2000; ++i) {
    const std::vector<int32_t> original = example(100);
    const Masked m = mask(masker, original, {key, i});
    for (size_t t = 0; t < original.size(); ++t) {
      if (tok.is_special(original[t])) continue;
      ++selectable;
      if (m.labels[t] == kIgnoreIndex) {
        ASSERT_EQ(m.tokens[t], original[t]) << "an unselected token changed";
        continue;
      }
      ASSERT_EQ(m.labels[t], original[t]) << "the label is the original token";
      ++selected;
      if (m.tokens[t] == tok.mask()) {
        ++to_mask;
      } else if (m.tokens[t] == original[t]) {
        ++unchanged;
      } else {
        ++other;
        ++other_ids[static_cast<size_t>(m.tokens[t])];
      }
    }
  }
  const auto fraction = [](int64_t part, int64_t whole) {
    return static_cast<double>(part) / static_cast<double>(whole);
  };
  EXPECT_EQ(selectable, 200000);
  EXPECT_NEAR(fraction(selected, selectable), 0.15, 0.005);
  // A random replacement draws <mask> or the original id itself 1 time in 33 each.
  EXPECT_NEAR(fraction(to_mask, selected), 0.8 + 0.1 / 33, 0.012);
  EXPECT_NEAR(fraction(unchanged, selected), 0.1 + 0.1 / 33, 0.009);
  EXPECT_NEAR(fraction(other, selected), 0.1 * 31 / 33, 0.009);
  // Random ids cover the whole vocabulary, special tokens included, as HF's randint(len(tokenizer)) does.
  for (int32_t id = 0; id < 33; ++id) {
    if (id == tok.mask()) continue;
    EXPECT_GT(other_ids[static_cast<size_t>(id)], 0) << id;
  }
}

TEST(MlmMasking, SpecialTokensAreNeverSelected) {
  const Tokenizer tok = Tokenizer::esm();
  MlmOptions all;
  all.mlm_probability = 1.0;
  const MlmMasker masker(tok, all);
  // <cls> L <unk> A <mask> <null_1> . - <eos> <pad> <pad>
  const std::vector<int32_t> original = {0, 4, 3, 5, 32, 31, 29, 30, 2, 1, 1};
  for (uint64_t i = 0; i < 100; ++i) {
    const Masked m = mask(masker, original, {mlm_validation_key(7), i});
    for (size_t t = 0; t < original.size(); ++t) {
      if (tok.is_special(original[t])) {
        EXPECT_EQ(m.labels[t], kIgnoreIndex) << t;
        EXPECT_EQ(m.tokens[t], original[t]) << t;
      } else {
        EXPECT_EQ(m.labels[t], original[t]) << t;  // every other token, <null_1> included, is selected
      }
    }
  }
}

TEST(MlmMasking, ProbabilitiesAtTheirLimits) {
  const Tokenizer tok = Tokenizer::esm();
  const std::vector<int32_t> original = example(50);
  MlmOptions o;
  o.mlm_probability = 0.0;
  const Masked none = mask(MlmMasker(tok, o), original, {1, 2});
  EXPECT_EQ(none.tokens, original);
  EXPECT_EQ(none.labels, std::vector<int32_t>(original.size(), kIgnoreIndex));
  o.mlm_probability = 1.0;
  o.mask_replace_prob = 1.0;
  o.random_replace_prob = 0.0;
  const Masked every = mask(MlmMasker(tok, o), original, {1, 2});
  for (size_t t = 1; t + 1 < original.size(); ++t) {
    EXPECT_EQ(every.tokens[t], tok.mask());
    EXPECT_EQ(every.labels[t], original[t]);
  }
  o.mask_replace_prob = 0.0;
  const Masked kept = mask(MlmMasker(tok, o), original, {1, 2});
  EXPECT_EQ(kept.tokens, original);  // selected, predicted, and left as they are
  EXPECT_EQ(kept.labels[1], original[1]);
}

// Masks are a function of where their draws come from, and of nothing else.
TEST(MlmMasking, DrawsDecideTheMask) {
  const Tokenizer tok = Tokenizer::esm();
  const MlmMasker masker(tok, {});
  const std::vector<int32_t> original = example(400);
  const auto labels = [&](MaskDraws d) { return mask(masker, original, d).labels; };
  const uint64_t key = mlm_epoch_key(42, 3);
  EXPECT_EQ(mask(masker, original, {key, 5}).tokens, mask(masker, original, {key, 5}).tokens);
  EXPECT_EQ(labels({key, 5}), labels({key, 5}));
  EXPECT_NE(labels({key, 5}), labels({key, 6}));
  EXPECT_NE(labels({key, 5}), labels({mlm_epoch_key(42, 4), 5}));
  EXPECT_NE(labels({key, 5}), labels({mlm_epoch_key(43, 3), 5}));
  std::set<uint64_t> keys = {mlm_validation_key(42), mlm_validation_key(43)};
  for (uint64_t epoch = 0; epoch < 100; ++epoch) keys.insert(mlm_epoch_key(42, epoch));
  EXPECT_EQ(keys.size(), 102u);
  EXPECT_EQ(mlm_epoch_key(42, 3), key);
}

TEST(MlmMasking, RejectsWhatItCannotDo) {
  EXPECT_CONTAINS(error_of([] { (void)MlmMasker(Tokenizer::nucleotide(), {}); }),
                  "needs a tokenizer with a mask token; 'nucleotide' has none");
  const Tokenizer tok = Tokenizer::esm();
  MlmOptions o;
  o.mlm_probability = 1.5;
  EXPECT_CONTAINS(error_of([&] { (void)MlmMasker(tok, o); }), "mlm_probability 1.5 is not in [0, 1]");
  o = {};
  o.mask_replace_prob = 0.8;
  o.random_replace_prob = 0.3;
  EXPECT_CONTAINS(error_of([&] { (void)MlmMasker(tok, o); }), "summing to at most 1");
  const MlmMasker masker(tok, {});
  std::vector<int32_t> tokens = {0, 33}, labels(2);
  EXPECT_CONTAINS(error_of([&] { masker.mask(tokens, labels, {}); }), "token 33 outside the vocabulary");
}

}  // namespace
}  // namespace strand::data
