// What attention layers keep and share while decoding incrementally (nn::Attention::forward_decode).
//
// AttentionCache: one attention layer's keys and values of `batch` sequences' past tokens, each [batch,
// max_len, Hkv, D] in the layer's compute dtype on its device, allocated (zeroed) once. Keys are stored
// after RoPE, so a cached key is never rotated again. Rows [0, length) of each sequence are meaningful, the
// length being kept by whoever owns the cache (a model's DecodeState), not by the cache.
//
// DecodeStep: where one decode forward's new tokens sit, the same for every layer of the model, so the
// positions are built (and moved to the device) once per step rather than once per layer.
#pragma once

#include "strand/core/arena.h"
#include "strand/core/tensor.h"

#include <cstddef>
#include <cstdint>

namespace strand::nn {

class AttentionCache {
 public:
  AttentionCache(int64_t batch, int64_t max_len, int64_t kv_heads, int64_t head_dim, DType dtype,
                 Device device);

  const Tensor& k() const { return k_; }  // [batch, max_len, Hkv, D]
  const Tensor& v() const { return v_; }  // [batch, max_len, Hkv, D]
  int64_t batch() const { return k_.size(0); }
  int64_t max_len() const { return k_.size(1); }
  size_t nbytes() const { return k_.nbytes() + v_.nbytes(); }

 private:
  Tensor k_, v_;
};

struct DecodeStep {
  int64_t batch = 0;   // sequences, advancing in lockstep
  int64_t past = 0;    // tokens of each sequence already cached
  int64_t tokens = 0;  // new tokens of each sequence in this step (>= 1)
  // I32 [batch * tokens] on the model's device: past + i for token i of every sequence (row b * tokens + i).
  Tensor positions;

  // Builds the positions on the host and copies them into the arena (on the arena's device).
  static DecodeStep make(Arena& arena, int64_t batch, int64_t past, int64_t tokens);
};

}  // namespace strand::nn
