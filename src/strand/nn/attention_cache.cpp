#include "strand/nn/attention_cache.h"

#include <vector>

namespace strand::nn {

AttentionCache::AttentionCache(int64_t batch, int64_t max_len, int64_t kv_heads, int64_t head_dim,
                               DType dtype, Device device) {
  STRAND_CHECK(batch > 0 && max_len > 0, "attention cache: batch ({}) and max_len ({}) must be positive",
               batch, max_len);
  STRAND_CHECK(kv_heads > 0 && head_dim > 0,
               "attention cache: key-value heads ({}) and head dim ({}) must be positive", kv_heads,
               head_dim);
  const Shape shape{batch, max_len, kv_heads, head_dim};
  k_ = Tensor::zeros(shape, dtype, device);
  v_ = Tensor::zeros(shape, dtype, device);
}

DecodeStep DecodeStep::make(Arena& arena, int64_t batch, int64_t past, int64_t tokens) {
  STRAND_CHECK(batch > 0 && tokens > 0 && past >= 0,
               "decode step: {} sequences of {} new tokens after {} cached is not a step", batch, tokens,
               past);
  STRAND_CHECK(past + tokens <= INT32_MAX, "decode step: position {} does not fit I32", past + tokens - 1);
  DecodeStep s{batch, past, tokens, Tensor::from_arena(arena, {batch * tokens}, DType::I32)};
  std::vector<int32_t> host(static_cast<size_t>(batch * tokens));
  for (size_t r = 0; r < host.size(); ++r)
    host[r] = static_cast<int32_t>(past + static_cast<int64_t>(r) % tokens);
  s.positions.copy_from(Tensor::wrap(host.data(), {batch * tokens}, DType::I32));
  return s;
}

}  // namespace strand::nn
