#include "strand/models/llama/config.h"

#include "strand/core/error.h"

namespace strand {

void LlamaConfig::validate() const {
  auto positive = [](int64_t v, const char* name) {
    STRAND_CHECK(v > 0, "llama config: {} must be positive, got {}", name, v);
  };
  positive(vocab_size, "vocab_size");
  positive(hidden_size, "hidden_size");
  positive(intermediate_size, "intermediate_size");
  positive(num_layers, "num_hidden_layers");
  positive(num_heads, "num_attention_heads");
  positive(num_kv_heads, "num_key_value_heads");
  STRAND_CHECK(num_heads % num_kv_heads == 0,
               "llama config: num_attention_heads ({}) must be a multiple of num_key_value_heads ({})",
               num_heads, num_kv_heads);
  STRAND_CHECK(
      head_dim > 0 || hidden_size % num_heads == 0,
      "llama config: hidden_size ({}) must be a multiple of num_attention_heads ({}) when head_dim is unset",
      hidden_size, num_heads);
  STRAND_CHECK(resolved_head_dim() % 2 == 0, "llama config: head_dim ({}) must be even for rotary embeddings",
               resolved_head_dim());
  STRAND_CHECK(rms_norm_eps > 0, "llama config: rms_norm_eps must be positive, got {}", rms_norm_eps);
  STRAND_CHECK(rope.theta > 0, "llama config: rope_theta must be positive, got {}", rope.theta);
  if (rope.factor != 0) {
    STRAND_CHECK(
        rope.factor > 0 && rope.original_max_position > 0 && rope.high_freq_factor > rope.low_freq_factor &&
            rope.low_freq_factor > 0,
        "llama config: llama3 rope scaling needs factor > 0, original_max_position_embeddings > 0 and "
        "high_freq_factor > low_freq_factor > 0");
  }
  STRAND_CHECK(init_std >= 0, "llama config: initializer_range must be >= 0, got {}", init_std);
  STRAND_CHECK(pad_token_id < vocab_size, "llama config: pad_token_id {} outside the vocabulary of {}",
               pad_token_id, vocab_size);
}

}  // namespace strand
