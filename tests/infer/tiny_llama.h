// Small random Llama models for the inference tests, and the full-forward references they are checked
// against.
#pragma once

#include "strand/models/llama/model.h"
#include "strand/ops/packed.h"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace strand::testing {

// Byte-sized vocabulary (the nucleotide tokenizer's 256 ids), grouped-query heads and llama3 rope scaling.
// init_std 0.5 makes the logits of a random model spread, so sampling and argmax are not near ties.
inline LlamaConfig tiny_llama_config(bool tied = false, int64_t vocab = 256) {
  LlamaConfig c;
  c.vocab_size = vocab;
  c.hidden_size = 16;
  c.intermediate_size = 24;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = tied ? 4 : 2;
  c.head_dim = 4;
  c.rope = {500000.0, 0, 8.0, 1.0, 4.0, 4};
  if (tied) c.rope.factor = 0;
  c.tie_embeddings = tied;
  c.init_std = 0.5;
  c.max_position_embeddings = 256;
  return c;
}

// Logits [L, V] of one sequence, run through the packed (training) forward.
inline Tensor full_logits(LlamaModel& model, const std::vector<int32_t>& sequence) {
  Arena arena;
  const std::vector<int64_t> lengths = {static_cast<int64_t>(sequence.size())};
  Tensor tokens = Tensor::empty({lengths[0]}, DType::I32);
  std::copy(sequence.begin(), sequence.end(), tokens.data<int32_t>());
  return model.forward(arena, tokens, SeqLayout::from_lengths(lengths)).clone();
}

}  // namespace strand::testing
