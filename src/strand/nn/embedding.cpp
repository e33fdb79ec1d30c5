#include "strand/nn/embedding.h"

#include "strand/ops/embedding.h"

namespace strand::nn {

Embedding::Embedding(const std::string& prefix, int64_t vocab, int64_t width, int64_t padding_idx,
                     DType dtype)
    : weight_(prefix + ".weight", {vocab, width}, dtype, true), padding_idx_(padding_idx) {
  STRAND_CHECK(padding_idx < vocab, "padding index {} outside the vocabulary of {}", padding_idx, vocab);
  weight_.embedding = true;
}

Tensor Embedding::forward(Arena& arena, const Tensor& tokens) {
  tokens_ = tokens;
  Tensor y = Tensor::from_arena(arena, {tokens.numel(), weight_.value.size(1)}, weight_.value.dtype());
  embedding_forward(y, tokens, weight_.value);
  return y;
}

void Embedding::backward(const Tensor& dy) {
  embedding_backward(weight_.grad, dy, tokens_, padding_idx_);
}

void Embedding::init(uint64_t seed, uint64_t stream, double std) {
  init_normal(weight_, seed, stream, std);
  if (padding_idx_ >= 0) weight_.value.narrow(0, padding_idx_, 1).fill(0.0);
}

}  // namespace strand::nn
