#include "strand/models/llama/config.h"

#include "strand/core/checked_math.h"
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
  parameter_count();
}

int64_t LlamaConfig::parameter_count() const {
  constexpr std::string_view what = "llama config: the parameter count";
  const int64_t h = hidden_size, hd = resolved_head_dim();
  const int64_t q = checked_mul(h, checked_mul(num_heads, hd, what), what);
  const int64_t kv = checked_mul(h, checked_mul(num_kv_heads, hd, what), what);
  const int64_t mlp = checked_mul(3, checked_mul(h, intermediate_size, what), what);
  // q and o, k and v, the gated MLP, two norms.
  const int64_t block = checked_add(checked_add(checked_mul(2, q, what), checked_mul(2, kv, what), what),
                                    checked_add(mlp, checked_mul(2, h, what), what), what);
  const int64_t embedding = checked_mul(vocab_size, h, what);
  int64_t total = checked_add(checked_mul(num_layers, block, what), checked_add(embedding, h, what), what);
  if (!tie_embeddings) total = checked_add(total, embedding, what);
  return total;
}

}  // namespace strand
