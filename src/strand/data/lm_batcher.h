// From token windows to training batches, for next-token prediction (labels shifted inside each example, loss
// masks and weights) or masked-token prediction (mlm_masking.h): packing into THD batches of a token budget
// (or right padding), in a shuffled order that a checkpoint can resume.
#pragma once

#include "strand/data/mlm_masking.h"
#include "strand/data/token_windows.h"
#include "strand/data/tokenizer.h"
#include "strand/ops/lm_batch.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
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

enum class Objective { Causal, Masked };

// What the batches teach: the next token, with the causal loss masks, or masked tokens.
struct ObjectiveOptions {
  Objective objective = Objective::Causal;
  LossMaskOptions causal;  // Causal only
  MlmOptions masked;       // Masked only
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

// Builds the masked-LM batch of `examples` (each [BOS] content [EOS]), example i masked with draws[i].
// Packed: the examples back to back, one sequence each. Padded: each example right-padded to max_length with
// PAD, and the pad tail its own sequence of the layout (Note [Padded encoder rows]); pads are never selected.
//
// Note [Padded encoder rows]: a bidirectional encoder attends to every token of a sequence, so a padded row
// that were one sequence would let real tokens attend to pads. Each row is therefore two sequences of the
// layout, its real tokens and its pad tail (cu_seqlens has a boundary at both ends), and attention, positions
// and per-sequence statistics never mix the two. A causal row needs no such cut: no real token sees a later
// pad.
LMBatch make_mlm_batch(const std::vector<std::vector<int32_t>>& examples, std::span<const MaskDraws> draws,
                       const BatchOptions& batch, const MlmMasker& masker);

// Where a loader stands: the epoch and the next window within that epoch's order.
struct LoaderPosition {
  uint64_t epoch = 0;
  uint64_t index = 0;
  bool operator==(const LoaderPosition&) const = default;
};

// Endless training batches: windows in a fresh Philox permutation per epoch (seed, epoch), packed greedily in
// that order; masked-LM examples masked by (seed, epoch, position in the epoch's order), Note [MLM
// randomness]. Resuming from position() reproduces the batches exactly.
class TrainLoader {
 public:
  TrainLoader(std::shared_ptr<const DocumentSource> docs, std::vector<Window> windows, WindowOptions window,
              BatchOptions batch, ObjectiveOptions objective, const Tokenizer& tokenizer, uint64_t seed);
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
  ObjectiveOptions objective_;
  TargetTable targets_;
  std::optional<MlmMasker> masker_;  // Masked only
  uint64_t seed_;
  LoaderPosition position_;
  uint64_t order_epoch_ = UINT64_MAX;
  std::vector<uint64_t> order_;
};

// All batches of a fixed window list in order (validation), at most max_batches (0 = all). Masked-LM windows
// are masked by (seed, their index in `windows`), the same at every call: Note [MLM randomness].
std::vector<LMBatch> evaluation_batches(const DocumentSource& docs, const std::vector<Window>& windows,
                                        const WindowOptions& window, const BatchOptions& batch,
                                        const ObjectiveOptions& objective, const Tokenizer& tokenizer,
                                        int64_t max_batches, uint64_t seed);

}  // namespace strand::data
