// Llama-3 style decoder configuration (the fields of transformers' LlamaConfig that define the computation).
#pragma once

#include "strand/ops/rope.h"

#include <cstdint>
#include <string>

namespace strand {

struct LlamaConfig {
  int64_t vocab_size = 256;
  int64_t hidden_size = 2048;
  int64_t intermediate_size = 8192;
  int64_t num_layers = 16;
  int64_t num_heads = 32;
  int64_t num_kv_heads = 8;
  int64_t head_dim = 0;  // 0: hidden_size / num_heads
  double rms_norm_eps = 1e-5;
  RopeOptions rope{500000.0, 0, 32.0, 1.0, 4.0, 8192};  // the genomic recipe's llama3 scaling
  bool tie_embeddings = false;
  double init_std = 0.02;
  int64_t max_position_embeddings = 8192;
  int64_t bos_token_id = 2;
  int64_t eos_token_id = 0;
  int64_t pad_token_id = 1;  // also the embedding's padding_idx, as in transformers; -1 for none

  int64_t resolved_head_dim() const { return head_dim > 0 ? head_dim : hidden_size / num_heads; }
  // Checks every field, naming the offending one.
  void validate() const;
  // Parameters of the model this describes, computed without overflow (an overflow is an error): what a
  // size check before allocating needs.
  int64_t parameter_count() const;
};

}  // namespace strand
