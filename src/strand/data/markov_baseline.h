// A count-based yardstick for a causal model: a k-th order Markov chain over token ids, fitted on training
// batches and scored on validation batches with exactly the targets and weights the model's loss counts. A
// network that does not beat it has learned no more than the k-mer statistics of its training data.
#pragma once

#include "strand/ops/lm_batch.h"

#include <cstdint>
#include <unordered_map>
#include <vector>

namespace strand::data {

// p(y | c) = (n(c, y) + 1) / (n(c) + A + 1): add-one smoothing over the A target ids seen in training plus
// one outcome for every id never seen as a target, so that the probabilities of a context sum to one. The
// context c of the target labels[t] is tokens[t-k+1 .. t] of its own sequence, shorter near the sequence
// start (the model sees no more either). Counts are weighted by the loss weights; ignored labels are not
// counted.
class MarkovBaseline {
 public:
  // REQUIRES: order >= 0; (vocab_size + 1)^order < 2^64 (contexts are packed into one integer).
  MarkovBaseline(int order, int64_t vocab_size);

  // Adds the counted targets of `batch` (a causal batch: next-token labels) to the model.
  void fit(const LMBatch& batch);
  // Mean negative log-likelihood (nats per counted target) of the counted targets of `batches`; NaN when
  // they count none.
  double loss(const std::vector<LMBatch>& batches) const;

  int order() const { return order_; }

 private:
  // Calls f(context key, target, weight) for every counted target of `batch`.
  template <typename F>
  void for_each_target(const LMBatch& batch, F&& f) const;

  int order_;
  uint64_t base_;
  std::unordered_map<int32_t, int32_t> alphabet_;             // target id -> dense index
  std::unordered_map<uint64_t, std::vector<double>> counts_;  // context -> weight per dense target
};

}  // namespace strand::data
