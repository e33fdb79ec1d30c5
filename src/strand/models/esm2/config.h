// ESM-2 protein encoder configuration (the fields of transformers' EsmConfig that define the computation of
// an ESM-2 model: rotary positions, pre-LN blocks, token dropout, tied LM head). Defaults: esm2_t6_8M.
#pragma once

#include <cstdint>

namespace strand {

struct Esm2Config {
  int64_t vocab_size = 33;
  int64_t hidden_size = 320;
  int64_t intermediate_size = 1280;
  int64_t num_layers = 6;
  int64_t num_heads = 20;
  double layer_norm_eps = 1e-5;
  int64_t max_position_embeddings = 1026;
  int64_t pad_token_id = 1;  // also the embedding's padding_idx
  int64_t mask_token_id = 32;
  bool token_dropout =
      true;  // masked embeddings zeroed, the rest rescaled per sequence (ops/token_dropout.h)
  bool tie_embeddings = true;  // the LM head's decoder reads the word embeddings
  double init_std = 0.02;

  int64_t head_dim() const { return hidden_size / num_heads; }
  // Checks every field, naming the offending one.
  void validate() const;
  // Parameters of the model this describes, computed without overflow (an overflow is an error): what a
  // size check before allocating needs.
  int64_t parameter_count() const;
};

}  // namespace strand
