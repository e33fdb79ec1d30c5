#include "strand/ops/embedding.h"

#include "strand/ops/cpu/cpu_ops.h"
#include "strand/ops/dispatch.h"

#include <algorithm>
#include <cstring>

namespace strand {
namespace {

void check_tokens(const Tensor& tokens, int64_t vocab) {
  const int32_t* tok = tokens.data<int32_t>();
  for (int64_t t = 0; t < tokens.numel(); ++t)
    STRAND_CHECK(tok[t] >= 0 && tok[t] < vocab, "token {} at position {} is outside the vocabulary [0, {})",
                 tok[t], t, vocab);
}

template <typename T>
void forward(const Tensor& y, const Tensor& tokens, const Tensor& table) {
  const int64_t rows = tokens.numel(), width = table.size(1);
  const int32_t* tok = tokens.data<int32_t>();
  const T* src = table.data<T>();
  T* dst = y.data<T>();
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < rows; ++t)
    std::memcpy(dst + t * width, src + tok[t] * width, sizeof(T) * static_cast<size_t>(width));
}

template <typename T>
void backward(const Tensor& dtable, const Tensor& dy, const Tensor& tokens, int64_t padding_idx) {
  const int64_t rows = tokens.numel(), width = dtable.size(1);
  const int32_t* tok = tokens.data<int32_t>();
  const T* g = dy.data<T>();
  T* dst = dtable.data<T>();
  // Channel blocks in parallel, tokens in order inside each: repeated tokens add up deterministically.
  constexpr int64_t kBlock = 64;
#pragma omp parallel for schedule(static)
  for (int64_t c0 = 0; c0 < width; c0 += kBlock) {
    const int64_t c1 = std::min(width, c0 + kBlock);
    for (int64_t t = 0; t < rows; ++t) {
      if (tok[t] == padding_idx) continue;
      for (int64_t c = c0; c < c1; ++c) dst[tok[t] * width + c] += g[t * width + c];
    }
  }
}

}  // namespace

namespace cpu {

void embedding_forward(const Tensor& y, const Tensor& tokens, const Tensor& table) {
  check_tokens(tokens, table.size(0));
  ops_detail::dispatch_float(table.dtype(), "embedding_forward",
                             [&](auto tag) { forward<decltype(tag)>(y, tokens, table); });
}

void embedding_backward(const Tensor& dtable, const Tensor& dy, const Tensor& tokens, int64_t padding_idx) {
  check_tokens(tokens, dtable.size(0));
  ops_detail::dispatch_float(dtable.dtype(), "embedding_backward",
                             [&](auto tag) { backward<decltype(tag)>(dtable, dy, tokens, padding_idx); });
}

}  // namespace cpu
}  // namespace strand
