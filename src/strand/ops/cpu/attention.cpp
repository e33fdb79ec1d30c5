// CPU reference of packed (THD) scaled dot-product attention with grouped-query heads (see attention.h).
//
// Every loop is over independent output rows, so the result is the same for any thread count:
//   forward:  one (query token, query head) row at a time: scores, max-subtracted softmax, P v, lse.
//   backward: Delta = rowsum(dout * out) per (token, head); then dq row by row over (query token, query
//   head);
//             then dk, dv row by row over (key token, kv head), each summing its group's query heads and the
//             sequence's query tokens in a fixed order. P and dS are recomputed from lse in both passes
//             instead of being stored or scattered, which costs a second score computation and buys
//             race-free, deterministic accumulation.
// Arithmetic is in T (the op's dtype), in sequential loops whose order does not depend on threading.
#include "strand/ops/attention.h"

#include "strand/ops/dispatch.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace strand {
namespace {

struct Dims {
  int64_t tokens = 0, heads = 0, kv_heads = 0, dim = 0;
  int64_t group() const { return heads / kv_heads; }
};

// Checks cu_seqlens (I32 [n+1], starts at 0, non-decreasing, ends at `tokens`) and returns, for every token,
// the [begin, end) of its sequence.
void sequence_bounds(const char* op, const Tensor& cu_seqlens, int64_t tokens, std::vector<int64_t>& begin,
                     std::vector<int64_t>& end) {
  ops_detail::check_cpu(op, {{"cu_seqlens", cu_seqlens}});
  check_tensor(cu_seqlens, "cu_seqlens", DType::I32, {-1});
  const int64_t n = cu_seqlens.numel() - 1;
  STRAND_CHECK(n >= 0, "{}: cu_seqlens must have at least one entry", op);
  const int32_t* c = cu_seqlens.data<int32_t>();
  STRAND_CHECK(c[0] == 0, "{}: cu_seqlens[0] must be 0, got {}", op, c[0]);
  for (int64_t s = 0; s < n; ++s)
    STRAND_CHECK(c[s + 1] >= c[s],
                 "{}: cu_seqlens must be non-decreasing: cu_seqlens[{}] = {} < cu_seqlens[{}] = {}", op,
                 s + 1, c[s + 1], s, c[s]);
  STRAND_CHECK(c[n] == tokens, "{}: cu_seqlens ends at {} but q has {} tokens", op, c[n], tokens);
  begin.assign(static_cast<size_t>(tokens), 0);
  end.assign(static_cast<size_t>(tokens), 0);
  for (int64_t s = 0; s < n; ++s)
    for (int64_t t = c[s]; t < c[s + 1]; ++t) {
      begin[static_cast<size_t>(t)] = c[s];
      end[static_cast<size_t>(t)] = c[s + 1];
    }
}

// q [T, H, D]; k, v [T, Hkv, D], same dtype, H % Hkv == 0.
Dims check_qkv(const char* op, const Tensor& q, const Tensor& k, const Tensor& v) {
  ops_detail::check_cpu(op, {{"q", q}, {"k", k}, {"v", v}});
  check_tensor(q, "q", {-1, -1, -1});
  Dims d;
  d.tokens = q.size(0);
  d.heads = q.size(1);
  d.dim = q.size(2);
  check_tensor(k, "k", q.dtype(), {d.tokens, -1, d.dim});
  d.kv_heads = k.size(1);
  check_tensor(v, "v", q.dtype(), {d.tokens, d.kv_heads, d.dim});
  STRAND_CHECK(d.heads > 0 && d.kv_heads > 0 && d.dim > 0,
               "{}: q {} and k {} need positive head counts and head dim", op, q.str(), k.str());
  STRAND_CHECK(d.heads % d.kv_heads == 0,
               "{}: query heads ({}) must be a multiple of key/value heads ({}) for grouped-query attention",
               op, d.heads, d.kv_heads);
  return d;
}

double softmax_scale(const char* op, const AttentionOptions& options, int64_t dim) {
  STRAND_CHECK(std::isfinite(options.scale), "{}: scale must be finite, got {}", op, options.scale);
  return options.scale == 0.0 ? 1.0 / std::sqrt(static_cast<double>(dim)) : options.scale;
}

template <typename T>
T dot(const T* a, const T* b, int64_t n) {
  T s = 0;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

// Keys visible to query token i: [begin, i] when causal, else the whole sequence.
struct KeyRange {
  const std::vector<int64_t>& begin;
  const std::vector<int64_t>& end;
  bool causal;
  int64_t first(int64_t i) const { return begin[static_cast<size_t>(i)]; }
  int64_t last(int64_t i) const { return causal ? i + 1 : end[static_cast<size_t>(i)]; }  // exclusive
  // Queries that see key j: [j, end) when causal, else the whole sequence.
  int64_t first_query(int64_t j) const { return causal ? j : begin[static_cast<size_t>(j)]; }
  int64_t last_query(int64_t j) const { return end[static_cast<size_t>(j)]; }
};

template <typename T>
void forward_kernel(T* out, T* lse, const T* q, const T* k, const T* v, const Dims& d, const KeyRange& keys,
                    T scale) {
  const int64_t H = d.heads, Hkv = d.kv_heads, D = d.dim, group = d.group();
  const int64_t rows = d.tokens * H;
#pragma omp parallel
  {
    std::vector<T> p;  // [keys of the row's sequence]
#pragma omp for schedule(dynamic, 16)
    for (int64_t row = 0; row < rows; ++row) {
      const int64_t i = row / H, h = row % H, g = h / group;
      const int64_t j0 = keys.first(i), j1 = keys.last(i);
      p.resize(static_cast<size_t>(j1 - j0));
      const T* qi = q + row * D;  // [D]
      T m = -INFINITY;
      for (int64_t j = j0; j < j1; ++j) {
        const T s = scale * dot(qi, k + (j * Hkv + g) * D, D);
        p[static_cast<size_t>(j - j0)] = s;
        m = std::max(m, s);
      }
      T l = 0;
      for (T& x : p) {
        x = std::exp(x - m);
        l += x;
      }
      T* oi = out + row * D;  // [D]
      std::fill(oi, oi + D, T(0));
      for (int64_t j = j0; j < j1; ++j) {
        const T pj = p[static_cast<size_t>(j - j0)] / l;
        const T* vj = v + (j * Hkv + g) * D;
        for (int64_t c = 0; c < D; ++c) oi[c] += pj * vj[c];
      }
      lse[row] = m + std::log(l);
    }
  }
}

template <typename T>
void backward_kernel(T* dq, T* dk, T* dv, const T* dout, const T* q, const T* k, const T* v, const T* out,
                     const T* lse, const Dims& d, const KeyRange& keys, T scale) {
  const int64_t H = d.heads, Hkv = d.kv_heads, D = d.dim, group = d.group();

  // delta [T, H] = rowsum(dout * out) = sum_j P_ij dP_ij, the softmax backward's correction term.
  std::vector<T> delta(static_cast<size_t>(d.tokens * H));
#pragma omp parallel for schedule(static)
  for (int64_t row = 0; row < d.tokens * H; ++row)
    delta[static_cast<size_t>(row)] = dot(dout + row * D, out + row * D, D);

  // dS_ij = P_ij (dP_ij - delta_i), with P_ij = exp(S_ij - lse_i) and dP_ij = dout_i . v_j.
  auto ds = [&](int64_t i, int64_t h, int64_t j, T* p_out) {
    const int64_t row = i * H + h, kv = j * Hkv + h / group;
    const T s = scale * dot(q + row * D, k + kv * D, D);
    const T p = std::exp(s - lse[row]);
    *p_out = p;
    return p * (dot(dout + row * D, v + kv * D, D) - delta[static_cast<size_t>(row)]);
  };

  if (dq != nullptr) {
    // dq_i = scale * sum_j dS_ij k_j.
#pragma omp parallel for schedule(dynamic, 16)
    for (int64_t row = 0; row < d.tokens * H; ++row) {
      const int64_t i = row / H, h = row % H, g = h / group;
      T* dqi = dq + row * D;  // [D]
      std::fill(dqi, dqi + D, T(0));
      for (int64_t j = keys.first(i); j < keys.last(i); ++j) {
        T p;
        const T dsij = ds(i, h, j, &p);
        const T* kj = k + (j * Hkv + g) * D;
        for (int64_t c = 0; c < D; ++c) dqi[c] += dsij * kj[c];
      }
      for (int64_t c = 0; c < D; ++c) dqi[c] *= scale;
    }
  }

  if (dk != nullptr || dv != nullptr) {
    // dk_j = scale * sum_{h in group} sum_i dS_ij q_i;  dv_j = sum_{h in group} sum_i P_ij dout_i.
#pragma omp parallel
    {
      std::vector<T> dk_acc(static_cast<size_t>(D)), dv_acc(static_cast<size_t>(D));
#pragma omp for schedule(dynamic, 16)
      for (int64_t kv = 0; kv < d.tokens * Hkv; ++kv) {
        const int64_t j = kv / Hkv, g = kv % Hkv;
        std::fill(dk_acc.begin(), dk_acc.end(), T(0));
        std::fill(dv_acc.begin(), dv_acc.end(), T(0));
        for (int64_t h = g * group; h < (g + 1) * group; ++h) {
          for (int64_t i = keys.first_query(j); i < keys.last_query(j); ++i) {
            T p;
            const T dsij = ds(i, h, j, &p);
            const T* qi = q + (i * H + h) * D;
            const T* doi = dout + (i * H + h) * D;
            for (int64_t c = 0; c < D; ++c) {
              dk_acc[static_cast<size_t>(c)] += dsij * qi[c];
              dv_acc[static_cast<size_t>(c)] += p * doi[c];
            }
          }
        }
        if (dk != nullptr)
          for (int64_t c = 0; c < D; ++c) dk[kv * D + c] = scale * dk_acc[static_cast<size_t>(c)];
        if (dv != nullptr)
          for (int64_t c = 0; c < D; ++c) dv[kv * D + c] = dv_acc[static_cast<size_t>(c)];
      }
    }
  }
}

}  // namespace

void attention_forward(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k,
                       const Tensor& v, const Tensor& cu_seqlens, const AttentionOptions& options) {
  const char* op = "attention_forward";
  const Dims d = check_qkv(op, q, k, v);
  ops_detail::check_cpu(op, {{"out", out}, {"lse", lse}});
  check_tensor(out, "out", q.dtype(), {d.tokens, d.heads, d.dim});
  check_tensor(lse, "lse", q.dtype(), {d.tokens, d.heads});
  std::vector<int64_t> begin, end;
  sequence_bounds(op, cu_seqlens, d.tokens, begin, end);
  const double scale = softmax_scale(op, options, d.dim);
  const KeyRange keys{begin, end, options.causal};

  ops_detail::dispatch_float(q.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    forward_kernel<T>(out.data<T>(), lse.data<T>(), q.data<T>(), k.data<T>(), v.data<T>(), d, keys,
                      static_cast<T>(scale));
  });
}

void attention_backward(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& dout,
                        const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                        const Tensor& lse, const Tensor& cu_seqlens, const AttentionOptions& options) {
  const char* op = "attention_backward";
  const Dims d = check_qkv(op, q, k, v);
  ops_detail::check_cpu(op, {{"dout", dout}, {"out", out}, {"lse", lse}, {"dq", dq}, {"dk", dk}, {"dv", dv}});
  check_tensor(dout, "dout", q.dtype(), {d.tokens, d.heads, d.dim});
  check_tensor(out, "out", q.dtype(), {d.tokens, d.heads, d.dim});
  check_tensor(lse, "lse", q.dtype(), {d.tokens, d.heads});
  // An undefined gradient is not wanted and is skipped.
  if (dq.defined()) check_tensor(dq, "dq", q.dtype(), {d.tokens, d.heads, d.dim});
  if (dk.defined()) check_tensor(dk, "dk", q.dtype(), {d.tokens, d.kv_heads, d.dim});
  if (dv.defined()) check_tensor(dv, "dv", q.dtype(), {d.tokens, d.kv_heads, d.dim});
  std::vector<int64_t> begin, end;
  sequence_bounds(op, cu_seqlens, d.tokens, begin, end);
  const double scale = softmax_scale(op, options, d.dim);
  const KeyRange keys{begin, end, options.causal};

  ops_detail::dispatch_float(q.dtype(), op, [&](auto tag) {
    using T = decltype(tag);
    backward_kernel<T>(dq.defined() ? dq.data<T>() : nullptr, dk.defined() ? dk.data<T>() : nullptr,
                       dv.defined() ? dv.data<T>() : nullptr, dout.data<T>(), q.data<T>(), k.data<T>(),
                       v.data<T>(), out.data<T>(), lse.data<T>(), d, keys, static_cast<T>(scale));
  });
}

}  // namespace strand
