// The Markov-chain baseline: add-one smoothing over the targets seen, contexts within a sequence only.
#include "strand/data/markov_baseline.h"

#include "strand/core/error.h"

#include <gtest/gtest.h>

#include <cmath>

namespace strand::data {
namespace {

TEST(MarkovBaseline, OrderZeroIsTheAddOneUnigramLoss) {
  // Targets of {1,1,2}: 1 then 2 (the last token has none): counts 1:1, 2:1, alphabet 2 plus "unseen".
  const LMBatch train = LMBatch::from_sequences({{1, 1, 2}});
  MarkovBaseline m(0, 8);
  m.fit(train);
  const LMBatch val = LMBatch::from_sequences({{5, 1, 2, 7}});  // targets 1, 2, 7
  const double expected = -(std::log(2.0 / 5) + std::log(2.0 / 5) + std::log(1.0 / 5)) / 3;
  EXPECT_NEAR(m.loss({val}), expected, 1e-12);
}

TEST(MarkovBaseline, ContextsPredictAnAlternatingSequence) {
  std::vector<int32_t> alternating;
  for (int i = 0; i < 400; ++i) alternating.push_back(i % 2 == 0 ? 3 : 4);
  MarkovBaseline order0(0, 8), order1(1, 8);
  const LMBatch b = LMBatch::from_sequences({alternating});
  order0.fit(b);
  order1.fit(b);
  EXPECT_NEAR(order0.loss({b}), std::log(2.0), 0.02);
  EXPECT_LT(order1.loss({b}), 0.02);
}

TEST(MarkovBaseline, ContextsDoNotCrossSequences) {
  // The first target of each sequence has the one-token context of its own first token.
  MarkovBaseline m(3, 8);
  m.fit(LMBatch::from_sequences({{1, 2, 3}}));
  const LMBatch val = LMBatch::from_sequences({{1, 2}, {1, 2}});
  EXPECT_NEAR(m.loss({val}), -std::log(2.0 / 4), 1e-12);
}

TEST(MarkovBaseline, NothingCountedIsNaNAndBadOrdersAreRefused) {
  MarkovBaseline m(2, 8);
  EXPECT_TRUE(std::isnan(m.loss({})));
  EXPECT_THROW(MarkovBaseline(-1, 8), Error);
  EXPECT_THROW(MarkovBaseline(20, 256), Error);
}

}  // namespace
}  // namespace strand::data
