// Windows, labels, loss masks and packing of training batches.
#include "strand/data/lm_batcher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
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

std::vector<int32_t> values(const Tensor& t) {
  return std::vector<int32_t>(t.data<int32_t>(), t.data<int32_t>() + t.numel());
}

// The protein recipes' windows: one per document, its start, still ending with EOS.
TEST(Windows, TruncateKeepsOneWindowPerDocument) {
  const Tokenizer tok = Tokenizer::esm();
  InMemoryDocuments docs({ids(tok, "MKTVLAGW"), ids(tok, "MKV"), {}, ids(tok, "MKTV")});
  WindowOptions o;
  o.max_length = 6;  // 4 residues between <cls> and <eos>
  o.overlap = 100;   // unused by truncation
  o.truncate = true;
  o.bos = tok.bos();
  o.eos = tok.eos();
  const std::vector<Window> w = make_windows(docs, o);
  ASSERT_EQ(w.size(), 3u);  // the empty document has none
  EXPECT_EQ(w[0].doc, 0u);
  EXPECT_EQ(w[0].length, 4u);
  EXPECT_EQ(w[1].length, 3u);
  EXPECT_EQ(w[2].doc, 3u);
  EXPECT_EQ(w[2].length, 4u);
  EXPECT_EQ(window_tokens(docs, w[0], o), (std::vector<int32_t>{0, 20, 15, 11, 7, 2}));  // <cls> MKTV <eos>
  EXPECT_EQ(window_tokens(docs, w[1], o), (std::vector<int32_t>{0, 20, 15, 7, 2}));
  o.add_bos_eos = false;
  EXPECT_EQ(make_windows(docs, o)[0].length, 6u);
}

// Masked-LM labels sit at the tokens themselves: each is kIgnoreIndex or the original token there.
void expect_masked_from(const std::vector<int32_t>& original, const std::vector<int32_t>& tokens,
                        const std::vector<int32_t>& labels) {
  ASSERT_EQ(tokens.size(), original.size());
  ASSERT_EQ(labels.size(), original.size());
  for (size_t t = 0; t < original.size(); ++t) {
    if (labels[t] == kIgnoreIndex) {
      EXPECT_EQ(tokens[t], original[t]) << t;
    } else {
      EXPECT_EQ(labels[t], original[t]) << t;
    }
  }
}

TEST(Batches, MaskedPackedExamplesAreSequencesOfTheLayout) {
  const Tokenizer tok = Tokenizer::esm();
  const MlmMasker masker(tok, {});
  const std::vector<std::vector<int32_t>> examples = {ids(tok, "<cls>" + std::string(40, 'A') + "<eos>"),
                                                      ids(tok, "<cls>" + std::string(30, 'L') + "<eos>")};
  const std::vector<MaskDraws> draws = {{9, 0}, {9, 1}};
  BatchOptions b;
  b.max_length = 64;
  const LMBatch batch = make_mlm_batch(examples, draws, b, masker);
  EXPECT_EQ(values(batch.layout.cu_seqlens), (std::vector<int32_t>{0, 42, 74}));
  EXPECT_EQ(batch.layout.positions.data<int32_t>()[42], 0);
  EXPECT_FALSE(batch.loss_weights.defined());
  std::vector<int32_t> original = examples[0];
  original.insert(original.end(), examples[1].begin(), examples[1].end());
  const std::vector<int32_t> tokens = values(batch.tokens), labels = values(batch.labels);
  expect_masked_from(original, tokens, labels);
  EXPECT_NE(labels, std::vector<int32_t>(labels.size(), kIgnoreIndex));
  // Each example is masked by its own draws, wherever it sits in a batch.
  const LMBatch alone = make_mlm_batch({examples[1]}, std::vector<MaskDraws>{{9, 1}}, b, masker);
  EXPECT_EQ(values(alone.labels), std::vector<int32_t>(labels.begin() + 42, labels.end()));
}

// Note [Padded encoder rows]: each row's pad tail is a sequence of its own, and never a target.
TEST(Batches, MaskedPaddedRowsKeepPadsApart) {
  const Tokenizer tok = Tokenizer::esm();
  MlmOptions all;
  all.mlm_probability = 1.0;
  const MlmMasker masker(tok, all);
  BatchOptions b;
  b.mode = BatchMode::Padded;
  b.max_length = 6;
  const std::vector<std::vector<int32_t>> examples = {{0, 20, 15, 2}, {0, 5, 5, 5, 5, 2}, {0, 7, 2}};
  const std::vector<MaskDraws> draws = {{1, 0}, {1, 1}, {1, 2}};
  const LMBatch batch = make_mlm_batch(examples, draws, b, masker);
  // Rows of 6: [4 real | 2 pads], [6 real], [3 real | 3 pads].
  EXPECT_EQ(values(batch.layout.cu_seqlens), (std::vector<int32_t>{0, 4, 6, 12, 15, 18}));
  EXPECT_EQ(values(batch.layout.positions),
            (std::vector<int32_t>{0, 1, 2, 3, 0, 1, 0, 1, 2, 3, 4, 5, 0, 1, 2, 0, 1, 2}));
  EXPECT_EQ(batch.layout.max_seqlen, 6);
  const std::vector<int32_t> tokens = values(batch.tokens), labels = values(batch.labels);
  for (const int t : {4, 5, 15, 16, 17}) {
    EXPECT_EQ(tokens[t], tok.pad()) << t;
    EXPECT_EQ(labels[t], kIgnoreIndex) << t;
  }
  // Every residue is selected at probability 1; <cls> and <eos> never are.
  EXPECT_EQ(labels, (std::vector<int32_t>{-100, 20, 15, -100, -100, -100, -100, 5, 5, 5, 5, -100, -100, 7,
                                          -100, -100, -100, -100}));
  const LMBatch unpadded = make_mlm_batch({{0, 20, 2}}, std::vector<MaskDraws>{{1, 0}}, b, masker);
  EXPECT_EQ(values(unpadded.layout.cu_seqlens), (std::vector<int32_t>{0, 3, 6}));
  b.max_length = 5;
  EXPECT_THROW(make_mlm_batch(examples, draws, b, masker), Error);  // a 6-token example does not fit
}

class MaskedLoader : public ::testing::Test {
 protected:
  // 40 proteins of 5 to 43 residues, truncated to 32 tokens.
  MaskedLoader() {
    std::vector<std::vector<int32_t>> proteins;
    const std::string residues = "LAGVSERTIDPKQNFYMHWC";
    for (int p = 0; p < 40; ++p) {
      std::string s;
      for (int i = 0; i < 5 + p; ++i) s += residues[static_cast<size_t>((p * 13 + i * 7) % 20)];
      proteins.push_back(ids(tok_, s));
    }
    docs_ = std::make_shared<InMemoryDocuments>(std::move(proteins));
    window_.max_length = 32;
    window_.truncate = true;
    window_.bos = tok_.bos();
    window_.eos = tok_.eos();
    batch_.tokens = 100;
    batch_.max_length = 32;
    objective_.objective = Objective::Masked;
    windows_ = make_windows(*docs_, window_);
  }

  TrainLoader loader(const BatchOptions& batch, uint64_t seed = 7) const {
    return TrainLoader(docs_, windows_, window_, batch, objective_, tok_, seed);
  }

  const Tokenizer tok_ = Tokenizer::esm();
  std::shared_ptr<InMemoryDocuments> docs_;
  WindowOptions window_;
  BatchOptions batch_;
  ObjectiveOptions objective_;
  std::vector<Window> windows_;
};

// The masks are a function of (seed, epoch, position in the epoch's order): a restored loader, or one that
// packs the same examples into other batches, masks every example the same way.
TEST_F(MaskedLoader, ResumesAndRepacksWithTheSameMasks) {
  TrainLoader a = loader(batch_);
  std::vector<int32_t> tokens, labels;  // of every batch, concatenated
  for (int i = 0; i < 40; ++i) {
    if (i == 17) {
      TrainLoader resumed = loader(batch_);
      resumed.restore(a.position());
      TrainLoader copy = a;
      for (int k = 0; k < 10; ++k) {  // across the end of the first epoch
        const LMBatch x = copy.next(), y = resumed.next();
        ASSERT_EQ(values(x.tokens), values(y.tokens));
        ASSERT_EQ(values(x.labels), values(y.labels));
        ASSERT_EQ(values(x.layout.cu_seqlens), values(y.layout.cu_seqlens));
      }
    }
    const LMBatch b = a.next();
    EXPECT_LE(b.tokens.numel(), 100);
    EXPECT_FALSE(b.loss_weights.defined());
    const std::vector<int32_t> t = values(b.tokens), l = values(b.labels);
    tokens.insert(tokens.end(), t.begin(), t.end());
    labels.insert(labels.end(), l.begin(), l.end());
  }
  EXPECT_GE(a.position().epoch, 2u);
  const auto selected =
      std::count_if(labels.begin(), labels.end(), [](int32_t l) { return l != kIgnoreIndex; });
  EXPECT_NEAR(static_cast<double>(selected) / static_cast<double>(labels.size()), 0.15 * 0.9, 0.04);

  BatchOptions larger = batch_;
  larger.tokens = 250;
  TrainLoader repacked = loader(larger);
  std::vector<int32_t> tokens2, labels2;
  while (tokens2.size() < tokens.size()) {
    const LMBatch b = repacked.next();
    const std::vector<int32_t> t = values(b.tokens), l = values(b.labels);
    tokens2.insert(tokens2.end(), t.begin(), t.end());
    labels2.insert(labels2.end(), l.begin(), l.end());
  }
  tokens2.resize(tokens.size());
  labels2.resize(labels.size());
  EXPECT_EQ(tokens2, tokens);
  EXPECT_EQ(labels2, labels);
}

TEST_F(MaskedLoader, EpochsAndSeedsMaskAfresh) {
  BatchOptions one;
  one.mode = BatchMode::Padded;
  one.sequences = 1;
  one.max_length = 32;
  // With batches of one window, batch i of each epoch is the window at position i of that epoch's order.
  TrainLoader a = loader(one), b = loader(one, 8);
  std::map<std::vector<int32_t>, std::set<std::vector<int32_t>>> masks_of;  // unmasked window -> its masks
  for (int epoch = 0; epoch < 3; ++epoch) {
    for (size_t i = 0; i < windows_.size(); ++i) {
      const LMBatch x = a.next();
      std::vector<int32_t> original = values(x.tokens), labels = values(x.labels);
      for (size_t t = 0; t < labels.size(); ++t)
        if (labels[t] != kIgnoreIndex) original[t] = labels[t];
      masks_of[original].insert(labels);
    }
  }
  EXPECT_EQ(masks_of.size(), windows_.size());
  size_t remasked = 0;
  for (const auto& [window, masks] : masks_of) remasked += masks.size() > 1;
  EXPECT_GT(remasked, windows_.size() / 2);
  EXPECT_NE(values(loader(one).next().labels), values(b.next().labels));
}

TEST_F(MaskedLoader, ValidationMasksAreTheSameAtEveryCall) {
  const auto first = evaluation_batches(*docs_, windows_, window_, batch_, objective_, tok_, 0, 7);
  const auto again = evaluation_batches(*docs_, windows_, window_, batch_, objective_, tok_, 0, 7);
  const auto other_seed = evaluation_batches(*docs_, windows_, window_, batch_, objective_, tok_, 0, 8);
  ASSERT_EQ(first.size(), again.size());
  int64_t tokens = 0;
  bool seeds_differ = false;
  for (size_t i = 0; i < first.size(); ++i) {
    EXPECT_EQ(values(first[i].tokens), values(again[i].tokens));
    EXPECT_EQ(values(first[i].labels), values(again[i].labels));
    seeds_differ |= values(first[i].labels) != values(other_seed[i].labels);
    tokens += first[i].tokens.numel();
  }
  EXPECT_TRUE(seeds_differ);
  int64_t expected = 0;
  for (const Window& w : windows_) expected += static_cast<int64_t>(w.length) + 2;
  EXPECT_EQ(tokens, expected);
  EXPECT_EQ(evaluation_batches(*docs_, windows_, window_, batch_, objective_, tok_, 2, 7).size(), 2u);
  // The causal objective over the same windows: next-token labels, as before.
  const auto causal = evaluation_batches(*docs_, windows_, window_, batch_, {}, tok_, 1, 7);
  const std::vector<int32_t> t = values(causal[0].tokens), l = values(causal[0].labels);
  EXPECT_EQ(l[0], t[1]);
}

TEST_F(MaskedLoader, NeedsAMaskToken) {
  EXPECT_THROW(TrainLoader(docs_, windows_, window_, batch_, objective_, Tokenizer::nucleotide(), 7), Error);
}

}  // namespace
}  // namespace strand::data
