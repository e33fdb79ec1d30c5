#include "strand/ops/decode_attention.h"

#include "strand/ops/cpu/cpu_ops.h"
#include "strand/ops/dispatch.h"
#include "strand/ops/work_profile.h"

#include <cmath>

#if defined(STRAND_WITH_CUDA)
#include "strand/cuda/runtime.h"
#include "strand/ops/cuda/decode_attention.h"
#endif

namespace strand {

void decode_attention_forward(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k,
                              const Tensor& v, const AttentionOptions& options) {
  const char* op = "decode_attention_forward";
  const Device device =
      ops_detail::common_device(op, {{"out", out}, {"lse", lse}, {"q", q}, {"k", k}, {"v", v}});
  const WorkScope scope(WorkKind::attention, device, op, shape_of(q));
  const int64_t ld_q = ops_detail::check_act_rows(q, "q", {-1, -1, -1});
  const int64_t rows = q.size(0), heads = q.size(1), dim = q.size(2);
  const int64_t ld_k = ops_detail::check_rows(k, "k", q.dtype(), {-1, -1, -1, dim});
  const int64_t batch = k.size(0), keys = k.size(1), kv_heads = k.size(2);
  const int64_t ld_v = ops_detail::check_rows(v, "v", q.dtype(), {batch, keys, kv_heads, dim});
  STRAND_CHECK(heads > 0 && kv_heads > 0 && dim > 0,
               "{}: q {} and k {} need positive head counts and head dim", op, q.str(), k.str());
  STRAND_CHECK(heads % kv_heads == 0,
               "{}: query heads ({}) must be a multiple of key/value heads ({}) for grouped-query attention",
               op, heads, kv_heads);
  STRAND_CHECK(batch >= 1 && rows % batch == 0,
               "{}: q has {} rows, not the same number of new tokens for each of the {} sequences of k {}",
               op, rows, batch, k.str());
  const int64_t queries = rows / batch;
  STRAND_CHECK(
      queries >= 1 && keys >= queries,
      "{}: q has {} tokens per sequence but k holds {}; the cache must include the new tokens (k rows "
      ">= q rows >= 1)",
      op, queries, keys);
  check_tensor(out, "out", q.dtype(), {rows, heads, dim});
  if (lse.defined()) check_tensor(lse, "lse", ops_detail::stat_dtype(q), {rows, heads});
  STRAND_CHECK(std::isfinite(options.scale), "{}: scale must be finite, got {}", op, options.scale);
  if (device.type == DeviceType::CPU) {
    cpu::decode_attention_forward(out, lse, q, k, v, options);
    return;
  }
#if defined(STRAND_WITH_CUDA)
  cuda::DecodeAttentionShape s;
  s.batch = batch;
  s.queries = queries;
  s.keys = keys;
  s.heads = heads;
  s.kv_heads = kv_heads;
  s.head_dim = dim;
  s.causal = options.causal;
  s.scale =
      static_cast<float>(options.scale == 0.0 ? 1.0 / std::sqrt(static_cast<double>(dim)) : options.scale);
  cuda::DecodeAttentionTensors t;
  t.q = q.raw();
  t.ld_q = ld_q;
  t.k = k.raw();
  t.v = v.raw();
  t.ld_k = ld_k;
  t.ld_v = ld_v;
  t.out = out.raw();
  t.lse = lse.defined() ? lse.data<float>() : nullptr;
  cuda::decode_attention_forward(q.dtype(), s, t, cuda::stream());
#else
  ops_detail::no_cuda(op);
#endif
}

}  // namespace strand
