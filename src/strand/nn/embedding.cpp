#include "strand/nn/embedding.h"

#include "strand/core/philox.h"
#include "strand/ops/embedding.h"

namespace strand::nn {

Embedding::Embedding(const std::string& prefix, int64_t vocab, int64_t width, int64_t padding_idx,
                     const Placement& placement)
    : weight_(prefix + ".weight", {vocab, width}, placement, true), padding_idx_(padding_idx) {
  STRAND_CHECK(padding_idx < vocab, "padding index {} outside the vocabulary of {}", padding_idx, vocab);
  weight_.embedding = true;
}

Tensor Embedding::forward(Arena& arena, const Tensor& tokens) {
  tokens_ = tokens;
  Tensor y = Tensor::from_arena(arena, {tokens.numel(), weight_.value.size(1)}, weight_.weight().dtype());
  embedding_forward(y, tokens, weight_.weight());
  return y;
}

void Embedding::backward(const Tensor& dy) {
  embedding_backward(weight_.grad, dy, tokens_, padding_idx_, claim_grad(weight_));
}

void Embedding::init(uint64_t seed, uint64_t stream, double std) {
  Tensor draw = Tensor::empty(weight_.value.shape(), DType::F64);
  double* d = draw.data<double>();
  for (int64_t i = 0; i < draw.numel(); ++i)
    d[i] = std * philox_normal(seed, stream, static_cast<uint64_t>(i));
  if (padding_idx_ >= 0) draw.narrow(0, padding_idx_, 1).fill(0.0);
  assign(weight_, draw);
}

}  // namespace strand::nn
