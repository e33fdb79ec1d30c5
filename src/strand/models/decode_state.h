// DecodeState: what a causal model keeps between the steps of incremental decoding, for `batch` sequences
// that advance in lockstep (the same number of new tokens per step, so all hold the same length), e.g.
// several samples of one prompt.
//
// The model makes it (CausalLM::new_decode_state) and is the only one that reads or writes what it holds:
// an attention model keeps per-layer key/value caches, a model with convolutions or recurrences keeps filter
// tails and recurrent states beside them. This base keeps only the bookkeeping every such state shares: how
// many tokens of each sequence it has taken (length) out of how many it has room for (max_len). The model's
// decode forward writes every part of its state for the new tokens first and advances the length last, so a
// forward that throws part-way leaves the length, and so the visible state, as it was.
//
// Memory is allocated when the state is made, on the model's device; decoding does not reallocate it. Not
// thread-safe: one state per thread of control.
#pragma once

#include "strand/core/error.h"

#include <cstddef>
#include <cstdint>

namespace strand {

class DecodeState {
 public:
  virtual ~DecodeState() = default;
  DecodeState(const DecodeState&) = delete;
  DecodeState& operator=(const DecodeState&) = delete;

  int64_t batch() const { return batch_; }
  int64_t max_len() const { return max_len_; }
  int64_t length() const { return length_; }  // tokens taken by each sequence: positions 0 .. length-1
  int64_t remaining() const { return max_len_ - length_; }
  // Memory the state holds.
  virtual size_t nbytes() const = 0;

  // REQUIRES: every part of the state has taken n more tokens of each sequence. Marks them taken;
  // n <= remaining(). Called by the model's decode forward once it cannot fail any more.
  void advance(int64_t n) {
    STRAND_CHECK(n >= 0 && n <= remaining(), "decode state: cannot add {} tokens to {} of {}", n, length_,
                 max_len_);
    length_ += n;
  }
  // Keeps the first n <= length() tokens of every sequence and forgets the rest (0 empties it); the memory
  // stays allocated. Rewinding the length is all a state indexed by position (an attention cache) needs; a
  // state that folds its tokens into a running summary (a recurrence) cannot recover an earlier summary from
  // it, and overrides this to restore or reject what it cannot rewind.
  virtual void truncate(int64_t n) {
    STRAND_CHECK(n >= 0 && n <= length_, "decode state: cannot keep {} tokens of {}", n, length_);
    length_ = n;
  }
  void reset() { truncate(0); }

 protected:
  // batch > 0 sequences of up to max_len > 0 tokens each.
  DecodeState(int64_t batch, int64_t max_len) : batch_(batch), max_len_(max_len) {
    STRAND_CHECK(batch > 0, "decode state: batch must be positive, got {}", batch);
    STRAND_CHECK(max_len > 0, "decode state: max_len must be positive, got {}", max_len);
  }

 private:
  int64_t batch_;
  int64_t max_len_;
  int64_t length_ = 0;
};

}  // namespace strand
