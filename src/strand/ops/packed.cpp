#include "strand/ops/packed.h"

#include <algorithm>

namespace strand {

SeqLayout SeqLayout::from_lengths(std::span<const int64_t> lengths) {
  Tensor cu = Tensor::empty({static_cast<int64_t>(lengths.size()) + 1}, DType::I32);
  int32_t* c = cu.data<int32_t>();
  c[0] = 0;
  for (size_t i = 0; i < lengths.size(); ++i) {
    STRAND_CHECK(lengths[i] > 0, "sequence {} has length {}; lengths must be positive", i, lengths[i]);
    STRAND_CHECK(c[i] + lengths[i] <= INT32_MAX, "packed batch exceeds 2^31 tokens");
    c[i + 1] = static_cast<int32_t>(c[i] + lengths[i]);
  }
  return from_cu_seqlens(cu);
}

SeqLayout SeqLayout::from_cu_seqlens(const Tensor& cu_seqlens) {
  STRAND_CHECK(cu_seqlens.dtype() == DType::I32 && cu_seqlens.rank() == 1 && cu_seqlens.numel() >= 1,
               "cu_seqlens must be I32 [n+1], got {}", cu_seqlens.str());
  SeqLayout s;
  s.cu_seqlens = cu_seqlens.contiguous();
  const int32_t* c = s.cu_seqlens.data<int32_t>();
  const int64_t n = s.cu_seqlens.numel() - 1;
  STRAND_CHECK(c[0] == 0, "cu_seqlens[0] must be 0, got {}", c[0]);
  for (int64_t i = 0; i < n; ++i)
    STRAND_CHECK(c[i + 1] >= c[i], "cu_seqlens must be non-decreasing: cu_seqlens[{}]={} < cu_seqlens[{}]={}",
                 i + 1, c[i + 1], i, c[i]);
  s.positions = Tensor::empty({c[n]}, DType::I32);
  int32_t* p = s.positions.data<int32_t>();
  for (int64_t i = 0; i < n; ++i) {
    for (int32_t t = c[i]; t < c[i + 1]; ++t) p[t] = t - c[i];
    s.max_seqlen = std::max<int64_t>(s.max_seqlen, c[i + 1] - c[i]);
  }
  return s;
}

SeqLayout SeqLayout::to(Device device) const {
  SeqLayout s = *this;
  s.cu_seqlens = cu_seqlens.to(device);
  s.positions = positions.to(device);
  return s;
}

void SeqLayout::validate() const {
  check_tensor(cu_seqlens, "cu_seqlens", DType::I32, {-1});
  check_tensor(positions, "positions", DType::I32, {-1});
  STRAND_CHECK(cu_seqlens.device() == positions.device(), "cu_seqlens is on {} but positions on {}",
               cu_seqlens.device().str(), positions.device().str());
  if (!cu_seqlens.is_cpu()) return;  // checked on the host before upload: reading it back would synchronise
  const int32_t* c = cu_seqlens.data<int32_t>();
  const int64_t n = num_seqs();
  STRAND_CHECK(n >= 0 && c[0] == 0, "cu_seqlens[0] must be 0");
  for (int64_t i = 0; i < n; ++i) {
    STRAND_CHECK(c[i + 1] >= c[i], "cu_seqlens must be non-decreasing at {}", i + 1);
    STRAND_CHECK(c[i + 1] - c[i] <= max_seqlen, "sequence {} longer than max_seqlen {}", i, max_seqlen);
  }
  STRAND_CHECK(c[n] == num_tokens(), "cu_seqlens ends at {} but the batch has {} tokens", c[n], num_tokens());
}

}  // namespace strand
