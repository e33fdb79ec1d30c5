#include "strand/data/lm_batcher.h"

#include "strand/core/error.h"
#include "strand/core/philox.h"

#include <algorithm>
#include <numeric>

namespace strand::data {
namespace {

bool is_acgt(char c) {
  switch (c) {
    case 'A':
    case 'C':
    case 'G':
    case 'T':
    case 'a':
    case 'c':
    case 'g':
    case 't':
      return true;
    default:
      return false;
  }
}

// Labels and weights of one example starting at `offset` of the batch arrays; `length` real tokens.
void label_example(const int32_t* tokens, int64_t length, const LossMaskOptions& m, const TargetTable& table,
                   int32_t* labels, float* weights) {
  const std::vector<char>& chars = table.chars;
  bool in_tag = false;
  std::vector<bool> tag(static_cast<size_t>(length), false);
  if (m.mask_control_tags) {
    for (int64_t t = 0; t < length; ++t) {
      const bool bar = chars[static_cast<size_t>(tokens[t])] == '|';
      if (bar) in_tag = !in_tag;
      tag[static_cast<size_t>(t)] = bar || in_tag;
    }
  }
  for (int64_t t = 0; t < length; ++t) {
    weights[t] = 1.0f;
    if (t + 1 >= length) {
      labels[t] = kIgnoreIndex;
      continue;
    }
    int32_t target = tokens[t + 1];
    const char c = chars[static_cast<size_t>(target)];
    bool masked = target == table.pad || (m.mask_eod && target == table.eos);
    if (m.mask_non_acgt && c != 0 && !is_acgt(c)) masked = true;
    if (m.mask_control_tags && tag[static_cast<size_t>(t + 1)]) masked = true;
    if (c >= 'a' && c <= 'z') {
      weights[t] = static_cast<float>(m.lowercase_weight);
      if (m.uppercase_labels && table.upper[static_cast<size_t>(target)] >= 0)
        target = table.upper[static_cast<size_t>(target)];
    }
    labels[t] = masked ? kIgnoreIndex : target;
  }
}

}  // namespace

TargetTable::TargetTable(const Tokenizer& tokenizer)
    : chars(static_cast<size_t>(tokenizer.vocab_size()), 0),
      upper(static_cast<size_t>(tokenizer.vocab_size()), -1),
      pad(tokenizer.pad()),
      eos(tokenizer.eos()) {
  for (int32_t id = 0; id < tokenizer.vocab_size(); ++id) {
    if (tokenizer.is_special(id)) continue;
    const int32_t one[1] = {id};
    const std::string s = tokenizer.decode(one);
    if (s.size() == 1) chars[static_cast<size_t>(id)] = s[0];
  }
  std::vector<int32_t> id_of(256, -1);
  for (size_t id = 0; id < chars.size(); ++id)
    if (chars[id] != 0) id_of[static_cast<unsigned char>(chars[id])] = static_cast<int32_t>(id);
  for (size_t id = 0; id < chars.size(); ++id)
    if (chars[id] >= 'a' && chars[id] <= 'z')
      upper[id] = id_of[static_cast<unsigned char>(chars[id] - 'a' + 'A')];
}

LMBatch make_lm_batch(const std::vector<std::vector<int32_t>>& examples, const BatchOptions& batch,
                      const LossMaskOptions& masks, const TargetTable& targets) {
  STRAND_CHECK(!examples.empty(), "a batch needs at least one example");
  std::vector<int64_t> lengths;
  for (const auto& e : examples) {
    STRAND_CHECK(!e.empty(), "empty example in a batch");
    STRAND_CHECK(static_cast<int64_t>(e.size()) <= batch.max_length,
                 "example of {} tokens exceeds max_length {}", e.size(), batch.max_length);
    lengths.push_back(batch.mode == BatchMode::Padded ? batch.max_length : static_cast<int64_t>(e.size()));
  }
  const int64_t total = std::accumulate(lengths.begin(), lengths.end(), int64_t{0});
  LMBatch b;
  b.layout = SeqLayout::from_lengths(lengths);
  b.tokens = Tensor::empty({total}, DType::I32);
  b.labels = Tensor::empty({total}, DType::I32);
  Tensor weights = Tensor::empty({total}, DType::F32);
  int32_t* tok = b.tokens.data<int32_t>();
  int32_t* lab = b.labels.data<int32_t>();
  float* w = weights.data<float>();
  int64_t offset = 0;
  for (size_t i = 0; i < examples.size(); ++i) {
    const auto& e = examples[i];
    const auto real = static_cast<int64_t>(e.size());
    std::copy(e.begin(), e.end(), tok + offset);
    std::fill(tok + offset + real, tok + offset + lengths[i], targets.pad);
    label_example(tok + offset, real, masks, targets, lab + offset, w + offset);
    std::fill(lab + offset + real, lab + offset + lengths[i], kIgnoreIndex);
    std::fill(w + offset + real, w + offset + lengths[i], 1.0f);
    offset += lengths[i];
  }
  if (masks.lowercase_weight != 1.0) b.loss_weights = weights;
  return b;
}

LMBatch make_mlm_batch(const std::vector<std::vector<int32_t>>& examples, std::span<const MaskDraws> draws,
                       const BatchOptions& batch, const MlmMasker& masker) {
  STRAND_CHECK(!examples.empty(), "a batch needs at least one example");
  STRAND_CHECK(draws.size() == examples.size(), "{} mask draws for {} examples", draws.size(),
               examples.size());
  const bool padded = batch.mode == BatchMode::Padded;
  STRAND_CHECK(!padded || masker.pad() >= 0, "padded batches need a tokenizer with a PAD token");
  std::vector<int64_t> lengths;  // of the layout's sequences: each example, then its pad tail when padded
  int64_t total = 0;
  for (const auto& e : examples) {
    const auto real = static_cast<int64_t>(e.size());
    STRAND_CHECK(real > 0, "empty example in a batch");
    STRAND_CHECK(real <= batch.max_length, "example of {} tokens exceeds max_length {}", real,
                 batch.max_length);
    lengths.push_back(real);
    if (padded && real < batch.max_length) lengths.push_back(batch.max_length - real);
    total += padded ? batch.max_length : real;
  }
  LMBatch b;
  b.layout = SeqLayout::from_lengths(lengths);
  b.tokens = Tensor::empty({total}, DType::I32);
  b.labels = Tensor::empty({total}, DType::I32);
  int32_t* tok = b.tokens.data<int32_t>();
  int32_t* lab = b.labels.data<int32_t>();
  int64_t offset = 0;
  for (size_t i = 0; i < examples.size(); ++i) {
    const auto& e = examples[i];
    const auto real = static_cast<int64_t>(e.size());
    std::copy(e.begin(), e.end(), tok + offset);
    masker.mask({tok + offset, e.size()}, {lab + offset, e.size()}, draws[i]);
    offset += real;
    if (padded) {
      std::fill(tok + offset, tok + offset + (batch.max_length - real), masker.pad());
      std::fill(lab + offset, lab + offset + (batch.max_length - real), kIgnoreIndex);
      offset += batch.max_length - real;
    }
  }
  return b;
}

TrainLoader::TrainLoader(std::shared_ptr<const DocumentSource> docs, std::vector<Window> windows,
                         WindowOptions window, BatchOptions batch, ObjectiveOptions objective,
                         const Tokenizer& tokenizer, uint64_t seed)
    : docs_(std::move(docs)),
      windows_(std::move(windows)),
      window_(window),
      batch_(batch),
      objective_(objective),
      targets_(tokenizer),
      seed_(seed) {
  STRAND_CHECK(!windows_.empty(), "the training data holds no sequence");
  STRAND_CHECK(batch_.mode == BatchMode::Padded || batch_.tokens >= window_.max_length,
               "batch.tokens ({}) must be at least data.max_length ({}) so every window fits a batch",
               batch_.tokens, window_.max_length);
  if (objective_.objective == Objective::Masked) masker_.emplace(tokenizer, objective_.masked);
}

void TrainLoader::shuffle_for(uint64_t epoch) {
  if (order_epoch_ == epoch) return;
  order_.resize(windows_.size());
  std::iota(order_.begin(), order_.end(), uint64_t{0});
  // Fisher-Yates with Philox draws: the order depends only on (seed, epoch).
  for (uint64_t i = order_.size() - 1; i > 0; --i) {
    const uint64_t r = (static_cast<uint64_t>(philox_bits(seed_, epoch, 2 * i)) << 32) |
                       philox_bits(seed_, epoch, 2 * i + 1);
    std::swap(order_[i], order_[r % (i + 1)]);
  }
  order_epoch_ = epoch;
}

void TrainLoader::restore(const LoaderPosition& position) {
  STRAND_CHECK(position.index <= windows_.size(),
               "loader position {} beyond the {} windows of an epoch (was the data changed?)", position.index,
               windows_.size());
  position_ = position;
}

LMBatch TrainLoader::next() {
  std::vector<std::vector<int32_t>> examples;
  std::vector<MaskDraws> draws;  // masked: where each example's mask comes from
  int64_t used = 0;
  for (;;) {
    if (position_.index >= windows_.size()) {
      ++position_.epoch;
      position_.index = 0;
    }
    shuffle_for(position_.epoch);
    const Window& w = windows_[order_[position_.index]];
    const auto len = static_cast<int64_t>(w.length) + (window_.add_bos_eos ? 2 : 0);
    const bool full = batch_.mode == BatchMode::Packed
                          ? used + len > batch_.tokens
                          : static_cast<int64_t>(examples.size()) >= batch_.sequences;
    if (full && !examples.empty()) break;
    examples.push_back(window_tokens(*docs_, w, window_));
    if (masker_) draws.push_back({mlm_epoch_key(seed_, position_.epoch), position_.index});
    used += len;
    ++position_.index;
  }
  return masker_ ? make_mlm_batch(examples, draws, batch_, *masker_)
                 : make_lm_batch(examples, batch_, objective_.causal, targets_);
}

std::vector<LMBatch> evaluation_batches(const DocumentSource& docs, const std::vector<Window>& windows,
                                        const WindowOptions& window, const BatchOptions& batch,
                                        const ObjectiveOptions& objective, const Tokenizer& tokenizer,
                                        int64_t max_batches, uint64_t seed) {
  const TargetTable targets(tokenizer);
  std::optional<MlmMasker> masker;
  if (objective.objective == Objective::Masked) masker.emplace(tokenizer, objective.masked);
  const uint64_t mask_key = mlm_validation_key(seed);
  std::vector<LMBatch> out;
  std::vector<std::vector<int32_t>> examples;
  std::vector<MaskDraws> draws;
  int64_t used = 0;
  const auto flush = [&] {
    out.push_back(masker ? make_mlm_batch(examples, draws, batch, *masker)
                         : make_lm_batch(examples, batch, objective.causal, targets));
    examples.clear();
    draws.clear();
    used = 0;
  };
  for (uint64_t i = 0; i < windows.size(); ++i) {
    if (max_batches > 0 && static_cast<int64_t>(out.size()) >= max_batches) return out;
    std::vector<int32_t> tokens = window_tokens(docs, windows[i], window);
    const auto len = static_cast<int64_t>(tokens.size());
    const bool full = batch.mode == BatchMode::Packed
                          ? used + len > batch.tokens
                          : static_cast<int64_t>(examples.size()) >= batch.sequences;
    if (full && !examples.empty()) flush();
    examples.push_back(std::move(tokens));
    draws.push_back({mask_key, i});
    used += len;
  }
  if (!examples.empty() && (max_batches == 0 || static_cast<int64_t>(out.size()) < max_batches)) flush();
  return out;
}

}  // namespace strand::data
