// Windows, labels, loss masks and packing of training batches.
#include "strand/data/lm_batcher.h"

#include <gtest/gtest.h>

#include <set>

namespace strand::data {
namespace {

std::vector<int32_t> ids(const Tokenizer& tok, const std::string& text) {
  std::vector<int32_t> out;
  tok.encode(text, out);
  return out;
}

TEST(Windows, OverlapByTheStrideAndCoverEverything) {
  const Tokenizer tok = Tokenizer::nucleotide();
  InMemoryDocuments docs({ids(tok, std::string(25, 'A')), ids(tok, "ACG")});
  WindowOptions o;
  o.max_length = 12;  // 10 content tokens
  o.overlap = 3;
  const std::vector<Window> w = make_windows(docs, o);
  // Document 0 (25 tokens): windows start every 10 - 3 = 7 tokens: 0, 7, 14 (10 tokens each) and 21 (the last
  // 4).
  ASSERT_EQ(w.size(), 5u);
  EXPECT_EQ(w[0].start, 0u);
  EXPECT_EQ(w[1].start, 7u);
  EXPECT_EQ(w[2].start, 14u);
  EXPECT_EQ(w[3].start, 21u);
  EXPECT_EQ(w[3].length, 4u);
  for (size_t i = 0; i + 1 < 4; ++i) EXPECT_EQ(w[i].start + w[i].length - w[i + 1].start, 3u);  // overlap
  EXPECT_EQ(w[4].doc, 1u);
  const std::vector<int32_t> t = window_tokens(docs, w[4], o);
  EXPECT_EQ(t, (std::vector<int32_t>{2, 'A', 'C', 'G', 0}));
  o.overlap = 10;
  EXPECT_THROW(make_windows(docs, o), Error);
}

TEST(Batches, PackedLabelsNeverCrossExamples) {
  const Tokenizer tok = Tokenizer::nucleotide();
  BatchOptions b;
  b.max_length = 8;
  const LMBatch batch = make_lm_batch({{2, 'A', 'C', 0}, {2, 'G', 0}}, b, {}, TargetTable(tok));
  const std::vector<int32_t> labels(batch.labels.data<int32_t>(), batch.labels.data<int32_t>() + 7);
  EXPECT_EQ(labels, (std::vector<int32_t>{'A', 'C', 0, kIgnoreIndex, 'G', 0, kIgnoreIndex}));
  EXPECT_EQ(batch.layout.num_seqs(), 2);
  EXPECT_EQ(batch.layout.positions.data<int32_t>()[4], 0);
  EXPECT_FALSE(batch.loss_weights.defined());
}

TEST(Batches, PaddedModePadsWithPadAndMasksIt) {
  const Tokenizer tok = Tokenizer::nucleotide();
  BatchOptions b;
  b.mode = BatchMode::Padded;
  b.max_length = 6;
  const LMBatch batch = make_lm_batch({{2, 'A', 'C', 0}}, b, {}, TargetTable(tok));
  const std::vector<int32_t> t(batch.tokens.data<int32_t>(), batch.tokens.data<int32_t>() + 6);
  const std::vector<int32_t> l(batch.labels.data<int32_t>(), batch.labels.data<int32_t>() + 6);
  EXPECT_EQ(t, (std::vector<int32_t>{2, 'A', 'C', 0, 1, 1}));
  EXPECT_EQ(l, (std::vector<int32_t>{'A', 'C', 0, kIgnoreIndex, kIgnoreIndex, kIgnoreIndex}));
}

TEST(Batches, LossMasks) {
  const Tokenizer tok = Tokenizer::nucleotide();
  BatchOptions b;
  b.max_length = 16;
  LossMaskOptions m;
  m.mask_eod = true;
  m.mask_non_acgt = true;
  m.mask_control_tags = true;
  m.lowercase_weight = 0.25;
  m.uppercase_labels = true;
  const LMBatch batch =
      make_lm_batch({ids(tok, "|x|AcN")}, b, m, TargetTable(tok));  // no BOS/EOS: raw tokens
  const int32_t* l = batch.labels.data<int32_t>();
  // Targets: 'x' (tag), '|' (tag), 'A', 'c' -> 'C' weighted, 'N' (non-ACGT), then the last token predicts
  // nothing.
  EXPECT_EQ(l[0], kIgnoreIndex);
  EXPECT_EQ(l[1], kIgnoreIndex);
  EXPECT_EQ(l[2], 'A');
  EXPECT_EQ(l[3], 'C');
  EXPECT_EQ(l[4], kIgnoreIndex);
  EXPECT_EQ(l[5], kIgnoreIndex);
  ASSERT_TRUE(batch.loss_weights.defined());
  EXPECT_EQ(batch.loss_weights.data<float>()[3], 0.25f);
  EXPECT_EQ(batch.loss_weights.data<float>()[2], 1.0f);
  const LMBatch eos = make_lm_batch({{2, 'A', 0}}, b, m, TargetTable(tok));
  EXPECT_EQ(eos.labels.data<int32_t>()[1], kIgnoreIndex);  // EOS target masked
}

TEST(Loader, PacksWithinBudgetShufflesAndResumesExactly) {
  const Tokenizer tok = Tokenizer::nucleotide();
  std::string seq;
  for (int i = 0; i < 500; ++i) seq += "ACGT"[(i * 7 + i / 3) % 4];
  auto docs = std::make_shared<InMemoryDocuments>(std::vector<std::vector<int32_t>>{ids(tok, seq)});
  WindowOptions w;
  w.max_length = 32;
  w.overlap = 4;
  BatchOptions b;
  b.tokens = 100;
  b.max_length = 32;
  const std::vector<Window> windows = make_windows(*docs, w);
  TrainLoader a(docs, windows, w, b, {}, tok, 7);
  std::set<uint64_t> seen;
  std::vector<std::vector<int32_t>> first;
  for (int i = 0; i < 12; ++i) {
    const LMBatch batch = a.next();
    EXPECT_LE(batch.tokens.numel(), 100);
    first.emplace_back(batch.tokens.data<int32_t>(), batch.tokens.data<int32_t>() + batch.tokens.numel());
    if (i == 5) {
      // A second loader restored to this point continues identically.
      TrainLoader resumed(docs, windows, w, b, {}, tok, 7);
      resumed.restore(a.position());
      TrainLoader copy = a;
      for (int k = 0; k < 4; ++k) {
        const LMBatch x = copy.next(), y = resumed.next();
        ASSERT_EQ(x.tokens.numel(), y.tokens.numel());
        for (int64_t t = 0; t < x.tokens.numel(); ++t)
          ASSERT_EQ(x.tokens.data<int32_t>()[t], y.tokens.data<int32_t>()[t]);
      }
    }
  }
  EXPECT_GT(a.position().epoch, 0u);  // 12 batches of ~3 windows exceed one epoch of 18 windows
  // Another seed gives another order.
  TrainLoader other(docs, windows, w, b, {}, tok, 8);
  const LMBatch o = other.next();
  bool differs = o.tokens.numel() != static_cast<int64_t>(first[0].size());
  for (int64_t t = 0; !differs && t < o.tokens.numel(); ++t)
    differs = o.tokens.data<int32_t>()[t] != first[0][static_cast<size_t>(t)];
  EXPECT_TRUE(differs);
}

}  // namespace
}  // namespace strand::data
