#include "strand/ops/lm_batch.h"

#include <algorithm>

namespace strand {

LMBatch LMBatch::from_sequences(const std::vector<std::vector<int32_t>>& sequences) {
  std::vector<int64_t> lengths;
  int64_t total = 0;
  for (const auto& s : sequences) {
    lengths.push_back(static_cast<int64_t>(s.size()));
    total += static_cast<int64_t>(s.size());
  }
  Tensor tokens = Tensor::empty({total}, DType::I32);
  int32_t* p = tokens.data<int32_t>();
  for (const auto& s : sequences) p = std::copy(s.begin(), s.end(), p);
  LMBatch b;
  b.layout = SeqLayout::from_lengths(lengths);
  b.tokens = tokens;
  b.labels = Tensor::empty({total}, DType::I32);
  int32_t* l = b.labels.data<int32_t>();
  const int32_t* c = b.layout.cu_seqlens.data<int32_t>();
  for (int64_t i = 0; i < b.layout.num_seqs(); ++i)
    for (int32_t t = c[i]; t < c[i + 1]; ++t)
      l[t] = t + 1 < c[i + 1] ? tokens.data<int32_t>()[t + 1] : kIgnoreIndex;
  return b;
}

LMBatch LMBatch::from_packed(const Tensor& tokens, const Tensor& cu_seqlens) {
  STRAND_CHECK(tokens.rank() == 1, "tokens must be one-dimensional (packed), got {}", tokens.str());
  const Tensor tok = tokens.to(DType::I32);
  const SeqLayout layout = SeqLayout::from_cu_seqlens(cu_seqlens.to(DType::I32));
  STRAND_CHECK(layout.num_tokens() == tok.numel(), "cu_seqlens covers {} tokens but there are {}",
               layout.num_tokens(), tok.numel());
  std::vector<std::vector<int32_t>> seqs;
  const int32_t* c = layout.cu_seqlens.data<int32_t>();
  for (int64_t i = 0; i < layout.num_seqs(); ++i)
    seqs.emplace_back(tok.data<int32_t>() + c[i], tok.data<int32_t>() + c[i + 1]);
  return from_sequences(seqs);
}

void LMBatch::check_ids(int64_t vocab_size) const {
  const int32_t* t = tokens.data<int32_t>();
  for (int64_t i = 0; i < tokens.numel(); ++i)
    STRAND_CHECK(t[i] >= 0 && t[i] < vocab_size, "token {} at position {} is outside the vocabulary [0, {})",
                 t[i], i, vocab_size);
  const int32_t* l = labels.data<int32_t>();
  for (int64_t i = 0; i < labels.numel(); ++i)
    STRAND_CHECK(l[i] == kIgnoreIndex || (l[i] >= 0 && l[i] < vocab_size),
                 "label {} at position {} is outside the vocabulary [0, {})", l[i], i, vocab_size);
}

LMBatch LMBatch::to(Device device, DType weight_dtype, int64_t vocab_size) const {
  check_ids(vocab_size);
  LMBatch b;
  b.tokens = tokens.to(device);
  b.labels = labels.to(device);
  if (loss_weights.defined())
    b.loss_weights =
        (loss_weights.dtype() == weight_dtype ? loss_weights : loss_weights.to(weight_dtype)).to(device);
  b.layout = layout.to(device);
  return b;
}

}  // namespace strand
