// CPU reference of packed (THD) scaled dot-product attention with grouped-query heads (see attention.h).
//
// Work is split into (sequence, key-value head) tasks that own disjoint outputs (their tokens' q rows of the
// group's heads, and their k/v rows), so threads never share an accumulator and the result is the same for
// any thread count. Within a task, keys are transposed once so every inner loop runs over contiguous memory
// and vectorises; rows are processed one query at a time, so memory stays O(sequence length) per thread. The
// backward recomputes P from the saved lse. Arithmetic is in T (the op's dtype). q, k, v and their gradients
// may be row-strided (slices of one fused projection); out, dout and lse are contiguous.
#include "strand/ops/attention.h"

#include "strand/ops/cpu/cpu_ops.h"
#include "strand/ops/dispatch.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace strand {
namespace {

struct Dims {
  int64_t tokens = 0, heads = 0, kv_heads = 0, dim = 0;
  int64_t ld_q = 0, ld_k = 0, ld_v = 0;  // row strides (elements between tokens)
  int64_t group() const { return heads / kv_heads; }
};

Dims dims_of(const Tensor& q, const Tensor& k, const Tensor& v) {
  return {q.size(0), q.size(1), k.size(1), q.size(2), q.stride(0), k.stride(0), v.stride(0)};
}

// Row strides of the gradients (0 for one not wanted).
struct GradStrides {
  int64_t dq = 0, dk = 0, dv = 0;
};

// One (sequence, key-value head) pair: its tokens [t0, t1) and the query heads of its group. Tasks touch
// disjoint outputs, and each runs its loops in a fixed order, so results do not depend on the thread count.
struct Task {
  int64_t t0, t1, g;
};

// The work of one call: tasks, the mask and the softmax scale.
struct Plan {
  std::vector<Task> tasks;
  bool causal = true;
  double scale = 0;
};

// Checks the contents of cu_seqlens (starts at 0, non-decreasing, ends at the token count) and lists the
// tasks: every non-empty sequence times every key-value head.
Plan make_plan(const char* op, const Tensor& cu_seqlens, const Dims& d, const AttentionOptions& options) {
  const int64_t n = cu_seqlens.numel() - 1;
  STRAND_CHECK(n >= 0, "{}: cu_seqlens must have at least one entry", op);
  const int32_t* c = cu_seqlens.data<int32_t>();
  STRAND_CHECK(c[0] == 0, "{}: cu_seqlens[0] must be 0, got {}", op, c[0]);
  for (int64_t s = 0; s < n; ++s)
    STRAND_CHECK(c[s + 1] >= c[s],
                 "{}: cu_seqlens must be non-decreasing: cu_seqlens[{}] = {} < cu_seqlens[{}] = {}", op,
                 s + 1, c[s + 1], s, c[s]);
  STRAND_CHECK(c[n] == d.tokens, "{}: cu_seqlens ends at {} but q has {} tokens", op, c[n], d.tokens);
  Plan plan;
  plan.causal = options.causal;
  plan.scale = options.scale == 0.0 ? 1.0 / std::sqrt(static_cast<double>(d.dim)) : options.scale;
  for (int64_t s = 0; s < n; ++s)
    if (c[s + 1] > c[s])
      for (int64_t g = 0; g < d.kv_heads; ++g) plan.tasks.push_back({c[s], c[s + 1], g});
  return plan;
}

// Rows of a [L, stride] slab gathered into a contiguous transposed [D, L] copy, so the inner loops over keys
// run over contiguous memory and vectorise without reassociating sums.
template <typename T>
void gather_transposed(std::vector<T>& dst, const T* src, int64_t rows, int64_t stride, int64_t dim) {
  dst.resize(static_cast<size_t>(rows * dim));
  for (int64_t j = 0; j < rows; ++j)
    for (int64_t c = 0; c < dim; ++c) dst[static_cast<size_t>(c * rows + j)] = src[j * stride + c];
}

// s[j] = scale * sum_c a[c] * bt[c, j] for j < n.
template <typename T>
void scores_row(T* s, const T* a, const T* bt, int64_t n, int64_t rows, int64_t dim, T scale) {
  std::fill(s, s + n, T(0));
  for (int64_t c = 0; c < dim; ++c) {
    const T x = a[c];
    const T* b = bt + c * rows;
    for (int64_t j = 0; j < n; ++j) s[j] += x * b[j];
  }
  for (int64_t j = 0; j < n; ++j) s[j] *= scale;
}

template <typename T>
void forward_kernel(T* out, T* lse, const T* q, const T* k, const T* v, const Dims& d, const Plan& plan) {
  const int64_t H = d.heads, D = d.dim, group = d.group();
  const std::vector<Task>& tasks = plan.tasks;
  const auto scale = static_cast<T>(plan.scale);
#pragma omp parallel
  {
    std::vector<T> kt, p;
#pragma omp for schedule(dynamic, 1)
    for (size_t n = 0; n < tasks.size(); ++n) {
      const Task& task = tasks[n];
      const int64_t L = task.t1 - task.t0;
      gather_transposed(kt, k + task.t0 * d.ld_k + task.g * D, L, d.ld_k, D);
      p.resize(static_cast<size_t>(L));
      for (int64_t h = task.g * group; h < (task.g + 1) * group; ++h) {
        for (int64_t i = 0; i < L; ++i) {
          const int64_t t = task.t0 + i, row = t * H + h;
          const int64_t visible = plan.causal ? i + 1 : L;
          scores_row(p.data(), q + t * d.ld_q + h * D, kt.data(), visible, L, D, scale);
          const T m = *std::max_element(p.begin(), p.begin() + visible);
          T l = 0;
          for (int64_t j = 0; j < visible; ++j) {
            p[static_cast<size_t>(j)] = std::exp(p[static_cast<size_t>(j)] - m);
            l += p[static_cast<size_t>(j)];
          }
          T* o = out + row * D;  // [D]
          std::fill(o, o + D, T(0));
          for (int64_t j = 0; j < visible; ++j) {
            const T pj = p[static_cast<size_t>(j)] / l;
            const T* vj = v + (task.t0 + j) * d.ld_v + task.g * D;
            for (int64_t c = 0; c < D; ++c) o[c] += pj * vj[c];
          }
          lse[row] = m + std::log(l);
        }
      }
    }
  }
}

template <typename T>
void backward_kernel(T* dq, T* dk, T* dv, const T* dout, const T* q, const T* k, const T* v, const T* out,
                     const T* lse, const Dims& d, const GradStrides& ld, const Plan& plan) {
  const int64_t H = d.heads, D = d.dim, group = d.group();
  const std::vector<Task>& tasks = plan.tasks;
  const auto scale = static_cast<T>(plan.scale);
  // Per query row: P_ij = exp(S_ij - lse_i), dP_ij = dout_i . v_j, delta_i = dout_i . out_i (= sum_j P_ij
  // dP_ij), dS_ij = P_ij (dP_ij - delta_i); then dq_i = scale sum_j dS_ij k_j, dk_j += scale dS_ij q_i, dv_j
  // += P_ij dout_i.
#pragma omp parallel
  {
    std::vector<T> kt, vt, p, dp, dk_acc, dv_acc;
#pragma omp for schedule(dynamic, 1)
    for (size_t n = 0; n < tasks.size(); ++n) {
      const Task& task = tasks[n];
      const int64_t L = task.t1 - task.t0;
      gather_transposed(kt, k + task.t0 * d.ld_k + task.g * D, L, d.ld_k, D);
      gather_transposed(vt, v + task.t0 * d.ld_v + task.g * D, L, d.ld_v, D);
      p.resize(static_cast<size_t>(L));
      dp.resize(static_cast<size_t>(L));
      dk_acc.assign(static_cast<size_t>(L * D), T(0));
      dv_acc.assign(static_cast<size_t>(L * D), T(0));
      for (int64_t h = task.g * group; h < (task.g + 1) * group; ++h) {
        for (int64_t i = 0; i < L; ++i) {
          const int64_t t = task.t0 + i, row = t * H + h;
          const int64_t visible = plan.causal ? i + 1 : L;
          const T* qi = q + t * d.ld_q + h * D;
          const T* doi = dout + row * D;
          scores_row(p.data(), qi, kt.data(), visible, L, D, scale);
          scores_row(dp.data(), doi, vt.data(), visible, L, D, T(1));
          T delta = 0;
          for (int64_t c = 0; c < D; ++c) delta += doi[c] * out[row * D + c];
          for (int64_t j = 0; j < visible; ++j) {
            const T pj = std::exp(p[static_cast<size_t>(j)] - lse[row]);
            p[static_cast<size_t>(j)] = pj;
            dp[static_cast<size_t>(j)] = pj * (dp[static_cast<size_t>(j)] - delta);  // now dS
          }
          if (dq != nullptr) {
            T* dqi = dq + t * ld.dq + h * D;
            std::fill(dqi, dqi + D, T(0));
            for (int64_t j = 0; j < visible; ++j) {
              const T ds = dp[static_cast<size_t>(j)];
              const T* kj = k + (task.t0 + j) * d.ld_k + task.g * D;
              for (int64_t c = 0; c < D; ++c) dqi[c] += ds * kj[c];
            }
            for (int64_t c = 0; c < D; ++c) dqi[c] *= scale;
          }
          for (int64_t j = 0; j < visible; ++j) {
            const T ds = scale * dp[static_cast<size_t>(j)], pj = p[static_cast<size_t>(j)];
            T* dkj = dk_acc.data() + j * D;
            T* dvj = dv_acc.data() + j * D;
            for (int64_t c = 0; c < D; ++c) {
              dkj[c] += ds * qi[c];
              dvj[c] += pj * doi[c];
            }
          }
        }
      }
      for (int64_t j = 0; j < L; ++j) {
        const int64_t t = task.t0 + j;
        if (dk != nullptr) std::copy_n(dk_acc.data() + j * D, D, dk + t * ld.dk + task.g * D);
        if (dv != nullptr) std::copy_n(dv_acc.data() + j * D, D, dv + t * ld.dv + task.g * D);
      }
    }
  }
}

}  // namespace

namespace cpu {

void attention_forward(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k,
                       const Tensor& v, const Tensor& cu_seqlens, const AttentionOptions& options) {
  const Dims d = dims_of(q, k, v);
  const Plan plan = make_plan("attention_forward", cu_seqlens, d, options);
  ops_detail::dispatch_float(q.dtype(), "attention_forward", [&](auto tag) {
    using T = decltype(tag);
    forward_kernel<T>(out.data<T>(), lse.data<T>(), q.data<T>(), k.data<T>(), v.data<T>(), d, plan);
  });
}

void attention_backward(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& dout,
                        const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                        const Tensor& lse, const Tensor& cu_seqlens, const AttentionOptions& options) {
  const Dims d = dims_of(q, k, v);
  const GradStrides ld{dq.defined() ? dq.stride(0) : 0, dk.defined() ? dk.stride(0) : 0,
                       dv.defined() ? dv.stride(0) : 0};
  const Plan plan = make_plan("attention_backward", cu_seqlens, d, options);
  ops_detail::dispatch_float(q.dtype(), "attention_backward", [&](auto tag) {
    using T = decltype(tag);
    backward_kernel<T>(dq.defined() ? dq.data<T>() : nullptr, dk.defined() ? dk.data<T>() : nullptr,
                       dv.defined() ? dv.data<T>() : nullptr, dout.data<T>(), q.data<T>(), k.data<T>(),
                       v.data<T>(), out.data<T>(), lse.data<T>(), d, ld, plan);
  });
}

}  // namespace cpu
}  // namespace strand
