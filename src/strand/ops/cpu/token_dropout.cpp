#include "strand/ops/token_dropout.h"

#include "strand/ops/cpu/cpu_ops.h"
#include "strand/ops/dispatch.h"

namespace strand {
namespace {

// Starts at 0, non-decreasing, ends at the token count.
void check_cu_seqlens(const char* op, const Tensor& cu_seqlens, int64_t tokens) {
  const int32_t* c = cu_seqlens.data<int32_t>();
  const int64_t n = cu_seqlens.numel() - 1;
  STRAND_CHECK(c[0] == 0, "{}: cu_seqlens[0] must be 0, got {}", op, c[0]);
  for (int64_t i = 0; i < n; ++i)
    STRAND_CHECK(c[i + 1] >= c[i],
                 "{}: cu_seqlens must be non-decreasing: cu_seqlens[{}] = {} < cu_seqlens[{}] = {}", op,
                 i + 1, c[i + 1], i, c[i]);
  STRAND_CHECK(c[n] == tokens, "{}: cu_seqlens ends at {} but tokens has {}", op, c[n], tokens);
}

// The scale is worked out in double and rounded once to T.
template <typename T>
void dropout_scales(const Tensor& scales, const Tensor& tokens, const Tensor& cu_seqlens, int32_t mask_id,
                    int32_t pad_id, double mask_ratio_train) {
  const int32_t* tok = tokens.data<int32_t>();
  const int32_t* cu = cu_seqlens.data<int32_t>();
  T* out = scales.data<T>();
  const int64_t n = cu_seqlens.numel() - 1;
#pragma omp parallel for schedule(static)
  for (int64_t s = 0; s < n; ++s) {
    int64_t n_tokens = 0, n_mask = 0;
    for (int32_t t = cu[s]; t < cu[s + 1]; ++t) {
      if (tok[t] == pad_id) continue;
      ++n_tokens;
      if (tok[t] == mask_id) ++n_mask;
    }
    // Some token takes the scale exactly when n_mask < n_tokens; otherwise every factor is 0 and the ratio
    // (a division by zero) is never formed.
    const double scale =
        n_mask < n_tokens
            ? (1.0 - mask_ratio_train) / (1.0 - static_cast<double>(n_mask) / static_cast<double>(n_tokens))
            : 0.0;
    for (int32_t t = cu[s]; t < cu[s + 1]; ++t)
      out[t] = tok[t] == mask_id || tok[t] == pad_id ? T{0} : static_cast<T>(scale);
  }
}

template <typename T>
void rows_scaled(const Tensor& y, const Tensor& x, const Tensor& scales) {
  const int64_t rows = x.size(0), width = x.size(1);
  const T* px = x.data<T>();
  const T* ps = scales.data<T>();
  T* py = y.data<T>();
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < rows; ++t) {
    const T s = ps[t];
    for (int64_t c = 0; c < width; ++c) py[t * width + c] = px[t * width + c] * s;
  }
}

}  // namespace

namespace cpu {

void token_dropout_scales(const Tensor& scales, const Tensor& tokens, const Tensor& cu_seqlens,
                          int32_t mask_id, int32_t pad_id, double mask_ratio_train) {
  const char* op = "token_dropout_scales";
  check_cu_seqlens(op, cu_seqlens, tokens.numel());
  ops_detail::dispatch_float(scales.dtype(), op, [&](auto tag) {
    dropout_scales<decltype(tag)>(scales, tokens, cu_seqlens, mask_id, pad_id, mask_ratio_train);
  });
}

void scale_rows(const Tensor& y, const Tensor& x, const Tensor& scales) {
  ops_detail::dispatch_float(x.dtype(), "scale_rows",
                             [&](auto tag) { rows_scaled<decltype(tag)>(y, x, scales); });
}

}  // namespace cpu
}  // namespace strand
