#include "strand/ops/loss.h"

#include "strand/ops/cpu/cpu_ops.h"
#include "strand/ops/dispatch.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace strand {
namespace {

bool counted(int32_t label, double weight, int32_t ignore_index) {
  return label != ignore_index && weight != 0.0;
}

void check_labels(const Tensor& labels, int64_t vocab, int32_t ignore_index) {
  const int32_t* l = labels.data<int32_t>();
  for (int64_t t = 0; t < labels.numel(); ++t)
    STRAND_CHECK(l[t] == ignore_index || (l[t] >= 0 && l[t] < vocab),
                 "label {} at position {} is outside the vocabulary [0, {}) and is not the ignore index {}",
                 l[t], t, vocab, ignore_index);
}

template <typename T>
LossSums forward(const Tensor& losses, const Tensor& lse, const Tensor& logits, const Tensor& labels,
                 const Tensor& weights, int32_t ignore_index) {
  const int64_t rows = logits.size(0), vocab = logits.size(1);
  const T* z = logits.data<T>();
  const int32_t* l = labels.data<int32_t>();
  const T* w = weights.defined() ? weights.data<T>() : nullptr;
  T* pl = losses.data<T>();
  T* plse = lse.data<T>();
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < rows; ++t) {
    const T* row = z + t * vocab;
    const T m = *std::max_element(row, row + vocab);
    double s = 0;
    for (int64_t v = 0; v < vocab; ++v) s += std::exp(static_cast<double>(row[v] - m));
    const double lse_t = m + std::log(s);
    plse[t] = static_cast<T>(lse_t);
    pl[t] = counted(l[t], w ? w[t] : 1.0, ignore_index) ? static_cast<T>(lse_t - row[l[t]]) : T{0};
  }
  // The sums run in token order so they do not depend on the thread count.
  LossSums sums;
  for (int64_t t = 0; t < rows; ++t) {
    const double wt = w ? w[t] : 1.0;
    if (!counted(l[t], wt, ignore_index)) continue;
    sums.loss_sum += wt * pl[t];
    sums.weight_sum += wt;
    ++sums.tokens;
  }
  return sums;
}

template <typename T>
void backward(const Tensor& dlogits, const Tensor& logits, const Tensor& labels, const Tensor& weights,
              const Tensor& lse, double scale, int32_t ignore_index) {
  const int64_t rows = logits.size(0), vocab = logits.size(1);
  const T* z = logits.data<T>();
  const int32_t* l = labels.data<int32_t>();
  const T* w = weights.defined() ? weights.data<T>() : nullptr;
  const T* plse = lse.data<T>();
  T* g = dlogits.data<T>();
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < rows; ++t) {
    T* grow = g + t * vocab;
    const double wt = w ? w[t] : 1.0;
    if (!counted(l[t], wt, ignore_index)) {
      std::fill(grow, grow + vocab, T{0});
      continue;
    }
    const double k = scale * wt;
    for (int64_t v = 0; v < vocab; ++v)
      grow[v] = static_cast<T>(k * std::exp(static_cast<double>(z[t * vocab + v]) - plse[t]));
    grow[l[t]] -= static_cast<T>(k);
  }
}

}  // namespace

namespace cpu {

LossSums cross_entropy_forward(const Tensor& losses, const Tensor& lse, const Tensor& logits,
                               const Tensor& labels, const Tensor& weights, int32_t ignore_index) {
  check_labels(labels, logits.size(1), ignore_index);
  LossSums sums;
  ops_detail::dispatch_float(logits.dtype(), "cross_entropy_forward", [&](auto tag) {
    sums = forward<decltype(tag)>(losses, lse, logits, labels, weights, ignore_index);
  });
  return sums;
}

void cross_entropy_backward(const Tensor& dlogits, const Tensor& logits, const Tensor& labels,
                            const Tensor& weights, const Tensor& lse, double scale, int32_t ignore_index) {
  check_labels(labels, logits.size(1), ignore_index);
  ops_detail::dispatch_float(logits.dtype(), "cross_entropy_backward", [&](auto tag) {
    backward<decltype(tag)>(dlogits, logits, labels, weights, lse, scale, ignore_index);
  });
}

}  // namespace cpu
}  // namespace strand
