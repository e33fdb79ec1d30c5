#include "strand/models/esm2/config.h"

#include "strand/core/checked_math.h"
#include "strand/core/error.h"

namespace strand {

void Esm2Config::validate() const {
  auto positive = [](int64_t v, const char* name) {
    STRAND_CHECK(v > 0, "esm2 config: {} must be positive, got {}", name, v);
  };
  positive(vocab_size, "vocab_size");
  positive(hidden_size, "hidden_size");
  positive(intermediate_size, "intermediate_size");
  positive(num_layers, "num_hidden_layers");
  positive(num_heads, "num_attention_heads");
  positive(max_position_embeddings, "max_position_embeddings");
  STRAND_CHECK(hidden_size % num_heads == 0,
               "esm2 config: hidden_size ({}) must be a multiple of num_attention_heads ({})", hidden_size,
               num_heads);
  STRAND_CHECK(head_dim() % 2 == 0, "esm2 config: the head dimension ({}) must be even for rotary embeddings",
               head_dim());
  STRAND_CHECK(layer_norm_eps > 0, "esm2 config: layer_norm_eps must be positive, got {}", layer_norm_eps);
  STRAND_CHECK(init_std >= 0, "esm2 config: initializer_range must be >= 0, got {}", init_std);
  STRAND_CHECK(pad_token_id >= 0 && pad_token_id < vocab_size,
               "esm2 config: pad_token_id {} outside the vocabulary of {}", pad_token_id, vocab_size);
  STRAND_CHECK(mask_token_id >= 0 && mask_token_id < vocab_size,
               "esm2 config: mask_token_id {} outside the vocabulary of {}", mask_token_id, vocab_size);
  parameter_count();
}

int64_t Esm2Config::parameter_count() const {
  constexpr std::string_view what = "esm2 config: the parameter count";
  const int64_t h = hidden_size, i = intermediate_size;
  const int64_t square = checked_add(checked_mul(h, h, what), h, what);  // an H x H linear with bias
  const int64_t mlp =
      checked_add(checked_mul(2, checked_mul(h, i, what), what), checked_add(i, h, what), what);
  // q, k, v and o, the MLP, two LayerNorms.
  const int64_t block =
      checked_add(checked_add(checked_mul(4, square, what), mlp, what), checked_mul(4, h, what), what);
  const int64_t embedding = checked_mul(vocab_size, h, what);
  // The final LayerNorm, the head's dense layer and LayerNorm, the decoder's bias (and weight when untied).
  int64_t total = checked_add(checked_mul(num_layers, block, what), embedding, what);
  total = checked_add(
      total, checked_add(square, checked_add(checked_mul(4, h, what), vocab_size, what), what), what);
  if (!tie_embeddings) total = checked_add(total, embedding, what);
  return total;
}

}  // namespace strand
