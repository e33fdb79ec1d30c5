// From token windows to training batches: labels shifted inside each example, loss masks and weights, and
// packing into THD batches of a token budget (or right padding), in a shuffled order that a checkpoint can
// resume.
#pragma once

#include "strand/data/token_windows.h"
#include "strand/data/tokenizer.h"
#include "strand/models/causal_lm.h"

#include <cstdint>
#include <memory>
#include <vector>

namespace strand::data {

// Which targets count, and how much. Masked targets get the ignore label; weighted ones a weight.
struct LossMaskOptions {
  bool mask_eod = false;           // EOS/EOD targets excluded
  double lowercase_weight = 1.0;   // weight of lowercase (soft-masked repeat) targets; the loss is
                                   // renormalised by the weight sum, as savanna does
  bool mask_non_acgt = false;      // residue targets outside ACGTacgt excluded
  bool mask_control_tags = false;  // tokens of |...| control tags (and the bars) excluded
  bool uppercase_labels = false;   // lowercase targets predicted as their uppercase letter (inputs unchanged)
};

enum class BatchMode { Packed, Padded };

struct BatchOptions {
  BatchMode mode = BatchMode::Packed;
  int64_t tokens = 4096;  // packed: token budget of a batch
  int64_t sequences = 8;  // padded: examples per batch, each right-padded to max_length
  int64_t max_length = 1024;
};

// What each token id is to the loss masks, worked out once per tokenizer: its character (0 for special
// tokens) and, for a lowercase letter, the id of its uppercase form (-1 otherwise).
struct TargetTable {
  explicit TargetTable(const Tokenizer& tokenizer);
  std::vector<char> chars;
  std::vector<int32_t> upper;
  int32_t pad = -1, eos = -1;
};

// Builds the batch of `examples` (each [BOS] content [EOS]): packed, or padded to max_length with the
// tokenizer's PAD (pad positions are never targets). No label crosses from one example to the next.
LMBatch make_lm_batch(const std::vector<std::vector<int32_t>>& examples, const BatchOptions& batch,
                      const LossMaskOptions& masks, const TargetTable& targets);

// Where a loader stands: the epoch and the next window within that epoch's order.
struct LoaderPosition {
  uint64_t epoch = 0;
  uint64_t index = 0;
  bool operator==(const LoaderPosition&) const = default;
};

// Endless training batches: windows in a fresh Philox permutation per epoch (seed, epoch), packed greedily in
// that order. Resuming from position() reproduces the batches exactly.
class TrainLoader {
 public:
  TrainLoader(std::shared_ptr<const DocumentSource> docs, std::vector<Window> windows, WindowOptions window,
              BatchOptions batch, LossMaskOptions masks, const Tokenizer& tokenizer, uint64_t seed);
  LMBatch next();
  LoaderPosition position() const { return position_; }
  void restore(const LoaderPosition& position);
  uint64_t windows_per_epoch() const { return windows_.size(); }

 private:
  void shuffle_for(uint64_t epoch);

  std::shared_ptr<const DocumentSource> docs_;
  std::vector<Window> windows_;
  WindowOptions window_;
  BatchOptions batch_;
  LossMaskOptions masks_;
  TargetTable targets_;
  uint64_t seed_;
  LoaderPosition position_;
  uint64_t order_epoch_ = UINT64_MAX;
  std::vector<uint64_t> order_;
};

// All batches of a fixed window list in order (validation), at most max_batches (0 = all).
std::vector<LMBatch> evaluation_batches(const DocumentSource& docs, const std::vector<Window>& windows,
                                        const WindowOptions& window, const BatchOptions& batch,
                                        const LossMaskOptions& masks, const Tokenizer& tokenizer,
                                        int64_t max_batches);

}  // namespace strand::data
