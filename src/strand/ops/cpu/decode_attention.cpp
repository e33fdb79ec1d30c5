// CPU reference of attention against cached keys and values (see decode_attention.h).
//
// One (query row, query head) at a time, exactly as the packed forward (cpu/attention.cpp) does it: scores,
// max-subtracted softmax, P v, lse, with sequential loops in T (the op's dtype). Rows are independent, so the
// OpenMP loop over them gives the same bits for any thread count.
#include "strand/ops/cpu/cpu_ops.h"
#include "strand/ops/dispatch.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace strand::cpu {
namespace {

// Extents and element strides of the (checked) operands.
struct Dims {
  int64_t batch = 0, queries = 0, keys = 0, heads = 0, kv_heads = 0, dim = 0;
  int64_t ld_q = 0, ld_k = 0, ld_v = 0;  // q: between rows; k, v: between sequences
  bool causal = true;
  int64_t past() const { return keys - queries; }
  int64_t group() const { return heads / kv_heads; }
};

template <typename T>
T dot(const T* a, const T* b, int64_t n) {
  T s = 0;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

template <typename T>
void decode_kernel(T* out, T* lse, const T* q, const T* k, const T* v, const Dims& d, T scale) {
  const int64_t H = d.heads, Hkv = d.kv_heads, D = d.dim, group = d.group();
  const int64_t rows = d.batch * d.queries * H;
  // A single decode step of a small model is a few microseconds of work: not worth waking a thread team.
  const bool parallel = rows > 1 && rows * d.keys * D >= (int64_t{1} << 16);
#pragma omp parallel if (parallel)
  {
    std::vector<T> p;  // [visible keys]
#pragma omp for schedule(dynamic, 1)
    for (int64_t row = 0; row < rows; ++row) {
      const int64_t r = row / H, h = row % H, g = h / group;  // r: query row b * queries + i
      const int64_t b = r / d.queries, i = r % d.queries;
      const int64_t j1 = d.causal ? d.past() + i + 1 : d.keys;  // keys [0, j1) are visible
      const T* kb = k + b * d.ld_k;
      const T* vb = v + b * d.ld_v;
      p.resize(static_cast<size_t>(j1));
      const T* qi = q + r * d.ld_q + h * D;  // [D]
      T m = -INFINITY;
      for (int64_t j = 0; j < j1; ++j) {
        const T s = scale * dot(qi, kb + (j * Hkv + g) * D, D);
        p[static_cast<size_t>(j)] = s;
        m = std::max(m, s);
      }
      T l = 0;
      for (T& x : p) {
        x = std::exp(x - m);
        l += x;
      }
      T* oi = out + row * D;  // [D]
      std::fill(oi, oi + D, T(0));
      for (int64_t j = 0; j < j1; ++j) {
        const T pj = p[static_cast<size_t>(j)] / l;
        const T* vj = vb + (j * Hkv + g) * D;
        for (int64_t c = 0; c < D; ++c) oi[c] += pj * vj[c];
      }
      if (lse != nullptr) lse[row] = m + std::log(l);
    }
  }
}

}  // namespace

void decode_attention_forward(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k,
                              const Tensor& v, const AttentionOptions& options) {
  Dims d;
  d.batch = k.size(0);
  d.queries = q.size(0) / d.batch;
  d.keys = k.size(1);
  d.heads = q.size(1);
  d.kv_heads = k.size(2);
  d.dim = q.size(2);
  d.ld_q = q.size(0) <= 1 ? d.heads * d.dim : q.stride(0);
  d.ld_k = k.stride(0);
  d.ld_v = v.stride(0);
  d.causal = options.causal;
  const double scale = options.scale == 0.0 ? 1.0 / std::sqrt(static_cast<double>(d.dim)) : options.scale;
  ops_detail::dispatch_float(q.dtype(), "decode_attention_forward", [&](auto tag) {
    using T = decltype(tag);
    decode_kernel<T>(out.data<T>(), lse.defined() ? lse.data<T>() : nullptr, q.data<T>(), k.data<T>(),
                     v.data<T>(), d, static_cast<T>(scale));
  });
}

}  // namespace strand::cpu
