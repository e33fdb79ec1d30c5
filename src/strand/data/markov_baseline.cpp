#include "strand/data/markov_baseline.h"

#include "strand/core/error.h"

#include <cmath>
#include <limits>
#include <numeric>

namespace strand::data {

MarkovBaseline::MarkovBaseline(int order, int64_t vocab_size)
    : order_(order), base_(static_cast<uint64_t>(vocab_size) + 1) {
  STRAND_CHECK(order >= 0, "Markov baseline: the order must be >= 0, got {}", order);
  STRAND_CHECK(vocab_size > 0, "Markov baseline: the vocabulary is empty");
  // Digits are id + 1, so a context cut short at the sequence start (leading zero digits) never equals a
  // full one.
  const double digits = static_cast<double>(order) * std::log2(static_cast<double>(base_));
  STRAND_CHECK(digits < 64, "Markov baseline: order {} over {} ids does not fit a 64-bit context", order,
               vocab_size);
}

template <typename F>
void MarkovBaseline::for_each_target(const LMBatch& batch, F&& f) const {
  const int32_t* tokens = batch.tokens.data<int32_t>();
  const int32_t* labels = batch.labels.data<int32_t>();
  const float* weights = batch.loss_weights.defined() ? batch.loss_weights.data<float>() : nullptr;
  const int32_t* cu = batch.layout.cu_seqlens.data<int32_t>();
  for (int64_t s = 0; s < batch.layout.num_seqs(); ++s) {
    for (int64_t t = cu[s]; t < cu[s + 1]; ++t) {
      if (labels[t] == kIgnoreIndex) continue;
      uint64_t key = 0;
      for (int64_t j = t; j > t - order_ && j >= cu[s]; --j)
        key = key * base_ + static_cast<uint64_t>(tokens[j]) + 1;
      f(key, labels[t], weights ? static_cast<double>(weights[t]) : 1.0);
    }
  }
}

void MarkovBaseline::fit(const LMBatch& batch) {
  for_each_target(batch, [&](uint64_t key, int32_t target, double weight) {
    const auto [it, added] = alphabet_.try_emplace(target, static_cast<int32_t>(alphabet_.size()));
    std::vector<double>& c = counts_[key];
    if (c.size() <= static_cast<size_t>(it->second)) c.resize(static_cast<size_t>(it->second) + 1, 0.0);
    c[static_cast<size_t>(it->second)] += weight;
  });
}

double MarkovBaseline::loss(const std::vector<LMBatch>& batches) const {
  const auto outcomes = static_cast<double>(alphabet_.size() + 1);
  double nll = 0, total = 0;
  for (const LMBatch& b : batches) {
    for_each_target(b, [&](uint64_t key, int32_t target, double weight) {
      double n_cy = 0, n_c = 0;
      if (const auto c = counts_.find(key); c != counts_.end()) {
        n_c = std::accumulate(c->second.begin(), c->second.end(), 0.0);
        if (const auto a = alphabet_.find(target);
            a != alphabet_.end() && static_cast<size_t>(a->second) < c->second.size())
          n_cy = c->second[static_cast<size_t>(a->second)];
      }
      nll -= weight * std::log((n_cy + 1) / (n_c + outcomes));
      total += weight;
    });
  }
  return total > 0 ? nll / total : std::numeric_limits<double>::quiet_NaN();
}

}  // namespace strand::data
