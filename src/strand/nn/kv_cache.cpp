#include "strand/nn/kv_cache.h"

namespace strand::infer {

KVCache::KVCache(int64_t max_len) : max_len_(max_len) {
  STRAND_CHECK(max_len > 0, "KV cache: max_len must be positive, got {}", max_len);
}

size_t KVCache::nbytes() const {
  size_t n = 0;
  for (const Layer& l : layers_)
    if (l.k.defined()) n += l.k.nbytes() + l.v.nbytes();
  return n;
}

const KVCache::Layer& KVCache::layer(int64_t index, int64_t kv_heads, int64_t head_dim, DType dtype) {
  STRAND_CHECK(index >= 0, "KV cache: layer index must be >= 0, got {}", index);
  STRAND_CHECK(kv_heads > 0 && head_dim > 0,
               "KV cache: layer {} needs positive heads and head dim, got {} and {}", index, kv_heads,
               head_dim);
  if (index >= num_layers()) layers_.resize(static_cast<size_t>(index) + 1);
  Layer& l = layers_[static_cast<size_t>(index)];
  const Shape shape{max_len_, kv_heads, head_dim};
  if (!l.k.defined()) {
    l.k = Tensor::zeros(shape, dtype);
    l.v = Tensor::zeros(shape, dtype);
  }
  STRAND_CHECK(l.k.shape() == shape && l.k.dtype() == dtype,
               "KV cache: layer {} holds {}, but {}{} was requested", index, l.k.str(), dtype_name(dtype),
               shape.str());
  return l;
}

void KVCache::advance(int64_t n) {
  STRAND_CHECK(n >= 0 && n <= remaining(), "KV cache: cannot add {} tokens to {} of {}", n, length_,
               max_len_);
  length_ += n;
}

void KVCache::truncate(int64_t n) {
  STRAND_CHECK(n >= 0 && n <= length_, "KV cache: cannot keep {} tokens of {}", n, length_);
  length_ = n;
}

}  // namespace strand::infer
