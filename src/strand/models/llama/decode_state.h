// The decode state of a Llama model: one attention cache per layer, for `batch` sequences of up to max_len
// tokens (LlamaModel::new_decode_state makes it; LlamaModel::forward_decode reads and writes it).
#pragma once

#include "strand/models/decode_state.h"
#include "strand/nn/attention_cache.h"

#include <vector>

namespace strand {

class LlamaDecodeState final : public DecodeState {
 public:
  LlamaDecodeState(int64_t batch, int64_t max_len, std::vector<nn::AttentionCache> layers)
      : DecodeState(batch, max_len), layers_(std::move(layers)) {}

  int64_t num_layers() const { return static_cast<int64_t>(layers_.size()); }
  nn::AttentionCache& layer(size_t i) { return layers_.at(i); }
  size_t nbytes() const override {
    size_t n = 0;
    for (const nn::AttentionCache& l : layers_) n += l.nbytes();
    return n;
  }

 private:
  std::vector<nn::AttentionCache> layers_;
};

}  // namespace strand
