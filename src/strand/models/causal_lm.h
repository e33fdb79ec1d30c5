// Causal (next-token) language models: a LanguageModel that can also decode incrementally from a KV cache.
#pragma once

#include "strand/models/language_model.h"

namespace strand {

namespace infer {
class KVCache;
}

class CausalLM : public LanguageModel {
 public:
  // Incremental decoding of ONE sequence (infer/kv_cache.h): tokens [t] I32 continue the sequence whose
  // first cache.length() tokens are cached -> logits [t, V] in the arena; appends the tokens to the cache.
  // Equals the last t rows of forward() over the whole sequence.
  virtual Tensor forward_cached(Arena& arena, const Tensor& tokens, infer::KVCache& cache) = 0;
};

}  // namespace strand
