// A packed batch of token sequences with a target per token: what training, evaluation and scoring feed a
// language model.
#pragma once

#include "strand/core/tensor.h"
#include "strand/ops/packed.h"

#include <cstdint>
#include <vector>

namespace strand {

// A packed batch with a target per token: for next-token prediction labels[t] = tokens[t+1] inside each
// sequence and kIgnoreIndex at each sequence's last token; for masked-token prediction labels hold the
// original token at the masked positions and kIgnoreIndex elsewhere.
struct LMBatch {
  Tensor tokens;        // I32 [T]
  Tensor labels;        // I32 [T]
  Tensor loss_weights;  // [T] in the model's dtype, or undefined (all ones)
  SeqLayout layout;

  // Next-token labels for each sequence.
  static LMBatch from_sequences(const std::vector<std::vector<int32_t>>& sequences);
  // Checks every token, and every label but kIgnoreIndex, against the vocabulary [0, vocab_size) of a host
  // batch: device kernels trust their indices.
  void check_ids(int64_t vocab_size) const;
  // A copy on `device`, loss weights as `weight_dtype` (the statistics dtype of the model's activations).
  // Checks the ids first (check_ids).
  LMBatch to(Device device, DType weight_dtype, int64_t vocab_size) const;
  // From packed tokens and cu_seqlens (I32 or I64 on input), next-token labels inside each sequence.
  static LMBatch from_packed(const Tensor& tokens, const Tensor& cu_seqlens);
};

}  // namespace strand
