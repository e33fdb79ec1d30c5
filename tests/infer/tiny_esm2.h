// A small random ESM-2 shape for the protein command-line tests: the esm tokenizer's 33 ids, width 16.
#pragma once

#include "strand/models/esm2/config.h"

#include <cstdint>

namespace strand::testing {

inline Esm2Config tiny_esm2_config(int64_t layers = 1) {
  Esm2Config c;
  c.hidden_size = 16;
  c.intermediate_size = 32;
  c.num_layers = layers;
  c.num_heads = 2;
  c.max_position_embeddings = 40;
  return c;
}

}  // namespace strand::testing
