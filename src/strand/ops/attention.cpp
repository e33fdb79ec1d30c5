#include "strand/ops/attention.h"

#include "strand/ops/cpu/cpu_ops.h"
#include "strand/ops/dispatch.h"
#include "strand/ops/work_profile.h"

#include <cmath>
#include <cstdlib>
#include <cstring>

#if defined(STRAND_WITH_CUDA)
#include "strand/cuda/runtime.h"
#include "strand/ops/cuda/attention.h"
#endif

namespace strand {
namespace {

struct Dims {
  int64_t tokens = 0, heads = 0, kv_heads = 0, dim = 0;
};

// q [T, H, D]; k, v [T, Hkv, D] (each row-strided), same dtype, H % Hkv == 0; cu_seqlens I32 [n+1].
Dims check_inputs(const char* op, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& cu_seqlens,
                  const AttentionOptions& options) {
  ops_detail::check_act_rows(q, "q", {-1, -1, -1});
  Dims d{q.size(0), q.size(1), 0, q.size(2)};
  ops_detail::check_rows(k, "k", q.dtype(), {d.tokens, -1, d.dim});
  d.kv_heads = k.size(1);
  ops_detail::check_rows(v, "v", q.dtype(), {d.tokens, d.kv_heads, d.dim});
  STRAND_CHECK(d.heads > 0 && d.kv_heads > 0 && d.dim > 0,
               "{}: q {} and k {} need positive head counts and head dim", op, q.str(), k.str());
  STRAND_CHECK(d.heads % d.kv_heads == 0,
               "{}: query heads ({}) must be a multiple of key/value heads ({}) for grouped-query attention",
               op, d.heads, d.kv_heads);
  check_tensor(cu_seqlens, "cu_seqlens", DType::I32, {-1});
  STRAND_CHECK(cu_seqlens.numel() >= 1, "{}: cu_seqlens must have at least one entry", op);
  STRAND_CHECK(std::isfinite(options.scale), "{}: scale must be finite, got {}", op, options.scale);
  STRAND_CHECK(q.is_cpu() || options.max_seqlen > 0 || d.tokens == 0,
               "{}: options.max_seqlen must be set for CUDA tensors", op);
  return d;
}

#if defined(STRAND_WITH_CUDA)
cuda::AttentionShape cuda_shape(const Dims& d, const Tensor& cu_seqlens, const AttentionOptions& options) {
  cuda::AttentionShape s;
  s.tokens = d.tokens;
  s.num_seqs = cu_seqlens.numel() - 1;
  s.max_seqlen = options.max_seqlen;
  s.heads = d.heads;
  s.kv_heads = d.kv_heads;
  s.head_dim = d.dim;
  s.causal = options.causal;
  s.scale =
      static_cast<float>(options.scale == 0.0 ? 1.0 / std::sqrt(static_cast<double>(d.dim)) : options.scale);
  return s;
}

// cuDNN's fused kernel where it applies; STRAND_ATTENTION=reference forces the reference kernel (to compare
// the two, or to rule cuDNN out when debugging).
bool use_cudnn(DType act, const cuda::AttentionShape& shape) {
  static const bool forced_reference = [] {
    const char* env = std::getenv("STRAND_ATTENTION");
    return env != nullptr && std::strcmp(env, "reference") == 0;
  }();
  return !forced_reference && cuda::cudnn_attention_supported(act, shape);
}

cuda::AttentionTensors cuda_tensors(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                                    const Tensor& lse, const Tensor& cu_seqlens) {
  cuda::AttentionTensors t;
  t.q = q.raw();
  t.k = k.raw();
  t.v = v.raw();
  t.ld_q = q.stride(0);
  t.ld_k = k.stride(0);
  t.ld_v = v.stride(0);
  t.out = out.raw();
  t.ld_out = out.size(1) * out.size(2);
  t.lse = lse.data<float>();
  t.cu_seqlens = cu_seqlens.data<int32_t>();
  return t;
}
#endif

}  // namespace

void attention_forward(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k,
                       const Tensor& v, const Tensor& cu_seqlens, const AttentionOptions& options) {
  const char* op = "attention_forward";
  const Device device = ops_detail::common_device(
      op, {{"out", out}, {"lse", lse}, {"q", q}, {"k", k}, {"v", v}, {"cu_seqlens", cu_seqlens}});
  const WorkScope scope(WorkKind::attention, device, op, shape_of(q));
  const Dims d = check_inputs(op, q, k, v, cu_seqlens, options);
  check_tensor(out, "out", q.dtype(), {d.tokens, d.heads, d.dim});
  check_tensor(lse, "lse", ops_detail::stat_dtype(q), {d.tokens, d.heads});
  if (device.type == DeviceType::CPU) {
    cpu::attention_forward(out, lse, q, k, v, cu_seqlens, options);
    return;
  }
#if defined(STRAND_WITH_CUDA)
  if (d.tokens == 0) return;
  const cuda::AttentionShape shape = cuda_shape(d, cu_seqlens, options);
  const cuda::AttentionTensors t = cuda_tensors(q, k, v, out, lse, cu_seqlens);
  if (use_cudnn(q.dtype(), shape)) {
    cuda::cudnn_attention_forward(q.dtype(), shape, t, cuda::stream());
  } else {
    cuda::reference_attention_forward(q.dtype(), shape, t, cuda::stream());
  }
#else
  ops_detail::no_cuda(op);
#endif
}

void attention_backward(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& dout,
                        const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                        const Tensor& lse, const Tensor& cu_seqlens, const AttentionOptions& options) {
  const char* op = "attention_backward";
  const Device device = ops_detail::common_device(op, {{"dq", dq},
                                                       {"dk", dk},
                                                       {"dv", dv},
                                                       {"dout", dout},
                                                       {"q", q},
                                                       {"k", k},
                                                       {"v", v},
                                                       {"out", out},
                                                       {"lse", lse},
                                                       {"cu_seqlens", cu_seqlens}});
  const WorkScope scope(WorkKind::attention, device, op, shape_of(q));
  const Dims d = check_inputs(op, q, k, v, cu_seqlens, options);
  check_tensor(dout, "dout", q.dtype(), {d.tokens, d.heads, d.dim});
  check_tensor(out, "out", q.dtype(), {d.tokens, d.heads, d.dim});
  check_tensor(lse, "lse", ops_detail::stat_dtype(q), {d.tokens, d.heads});
  // An undefined gradient is not wanted and is skipped (on CUDA all three are computed together, so all three
  // must be given).
  if (dq.defined()) ops_detail::check_rows(dq, "dq", q.dtype(), {d.tokens, d.heads, d.dim});
  if (dk.defined()) ops_detail::check_rows(dk, "dk", q.dtype(), {d.tokens, d.kv_heads, d.dim});
  if (dv.defined()) ops_detail::check_rows(dv, "dv", q.dtype(), {d.tokens, d.kv_heads, d.dim});
  if (device.type == DeviceType::CPU) {
    cpu::attention_backward(dq, dk, dv, dout, q, k, v, out, lse, cu_seqlens, options);
    return;
  }
#if defined(STRAND_WITH_CUDA)
  STRAND_CHECK(dq.defined() && dk.defined() && dv.defined(), "{}: dq, dk and dv are all required on CUDA",
               op);
  if (d.tokens == 0) return;
  const cuda::AttentionShape shape = cuda_shape(d, cu_seqlens, options);
  const cuda::AttentionTensors t = cuda_tensors(q, k, v, out, lse, cu_seqlens);
  cuda::AttentionGrads g;
  g.dout = dout.raw();
  g.ld_dout = t.ld_out;
  g.dq = dq.raw();
  g.dk = dk.raw();
  g.dv = dv.raw();
  g.ld_dq = dq.stride(0);
  g.ld_dk = dk.stride(0);
  g.ld_dv = dv.stride(0);
  if (use_cudnn(q.dtype(), shape)) {
    cuda::cudnn_attention_backward(q.dtype(), shape, t, g, cuda::stream());
  } else {
    cuda::reference_attention_backward(q.dtype(), shape, t, g, cuda::stream());
  }
#else
  ops_detail::no_cuda(op);
#endif
}

}  // namespace strand
