// The model.* recipe fields every transformer family spells the same way (transformers' config.json names),
// bound once here so that each family adds only its own.
#pragma once

#include "strand/core/config_schema.h"

namespace strand {

// Config has vocab_size, hidden_size, intermediate_size, num_layers, num_heads, max_position_embeddings,
// init_std and tie_embeddings; `defaults` gives their defaults (a family's reference shape).
template <typename Config>
void bind_transformer_fields(ConfigSchema& s, Config& c, const Config& defaults) {
  s.add("model.vocab_size", &c.vocab_size, defaults.vocab_size,
        "vocabulary size (the tokenizer's ids fit in it)");
  s.add("model.hidden_size", &c.hidden_size, defaults.hidden_size, "model width");
  s.add("model.intermediate_size", &c.intermediate_size, defaults.intermediate_size, "feed-forward width");
  s.add("model.num_hidden_layers", &c.num_layers, defaults.num_layers, "blocks");
  s.add("model.num_attention_heads", &c.num_heads, defaults.num_heads, "query heads");
  s.add("model.max_position_embeddings", &c.max_position_embeddings, defaults.max_position_embeddings,
        "longest supported sequence");
  s.add("model.initializer_range", &c.init_std, defaults.init_std, "std of the normal initialisation");
  s.add("model.tie_word_embeddings", &c.tie_embeddings, defaults.tie_embeddings,
        "share the embedding and LM head");
}

}  // namespace strand
