// Causal (next-token) language models: a LanguageModel that can also decode incrementally, keeping what it
// needs between steps in a DecodeState of its own making.
#pragma once

#include "strand/models/decode_state.h"
#include "strand/models/language_model.h"

#include <memory>

namespace strand {

class CausalLM : public LanguageModel {
 public:
  // A state for `batch` sequences of up to max_len tokens each (both > 0; max_len within max_positions()
  // when that is bounded), empty, allocated on the model's device in its compute dtype.
  virtual std::unique_ptr<DecodeState> new_decode_state(int64_t batch, int64_t max_len) = 0;

  // Incremental decoding: tokens [batch * t] I32 on the model's device, row b * t + i holding token i of
  // sequence b, continue the `batch` sequences whose first state.length() tokens the state has taken
  // -> logits [batch * t, V] in the arena (rows ordered as the tokens); the state takes the tokens
  // (state.length() grows by t). Row for row this is forward() over each whole sequence, restricted to its
  // last t tokens. `state` must come from this model's new_decode_state; t >= 1 and t <= state.remaining().
  // A forward that throws leaves state.length() as it was.
  virtual Tensor forward_decode(Arena& arena, const Tensor& tokens, DecodeState& state) = 0;
};

}  // namespace strand
