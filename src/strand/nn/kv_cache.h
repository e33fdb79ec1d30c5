// KVCache: the keys and values of one sequence's past tokens, per attention layer, for incremental decoding.
//
// The cache knows nothing about the model: an attention layer asks for its buffers by index, with its
// key-value head count, head dim and dtype, and they are allocated (zeroed) on the first request. Keys are
// stored after RoPE, so a cached key is never rotated again. A model's cached forward (CausalLM::
// forward_cached) writes the new tokens' rows [length, length + t) of every layer, then advances the length
// once; a forward that throws part-way leaves the length, and so the visible contents, as they were.
//
// Memory: 2 * layers * max_len * Hkv * D elements, allocated up front per layer (no reallocation while
// decoding). Not thread-safe: one cache per sequence and thread of control.
#pragma once

#include "strand/core/tensor.h"

#include <cstdint>
#include <vector>

namespace strand::infer {

class KVCache {
 public:
  struct Layer {
    Tensor k;  // [max_len, Hkv, D]; rows [0, length) hold the cached (rotated) keys
    Tensor v;  // [max_len, Hkv, D]
  };

  // A cache for up to max_len tokens (> 0).
  explicit KVCache(int64_t max_len);
  KVCache(const KVCache&) = delete;
  KVCache& operator=(const KVCache&) = delete;
  KVCache(KVCache&&) = default;
  KVCache& operator=(KVCache&&) = default;

  int64_t max_len() const { return max_len_; }
  int64_t length() const { return length_; }  // tokens cached: positions 0 .. length-1
  int64_t remaining() const { return max_len_ - length_; }
  int64_t num_layers() const { return static_cast<int64_t>(layers_.size()); }
  size_t nbytes() const;  // memory of the allocated buffers

  // The buffers of attention layer `index` (>= 0), allocated on the first request. Every later request must
  // give the same shape and dtype (an error names the layer otherwise). The reference stays valid until the
  // next request of a new layer.
  const Layer& layer(int64_t index, int64_t kv_heads, int64_t head_dim, DType dtype);

  // REQUIRES: every layer has written rows [length, length + n). Marks them cached; n <= remaining().
  void advance(int64_t n);
  // Keeps the first n <= length() tokens and forgets the rest (0 empties it); the memory stays allocated.
  void truncate(int64_t n);

 private:
  int64_t max_len_;
  int64_t length_ = 0;
  std::vector<Layer> layers_;  // undefined tensors for layers not requested yet
};

}  // namespace strand::infer
