// Scaled dot-product attention over packed (THD) batches on the GPU; see ops/attention.h for the arithmetic.
//
// q [T, H, D], k and v [T, Hkv, D] and out [T, H, D] (dtype act, BF16 for the fused path) are row-strided
// views: token t's heads start at ptr + t * ld (ld in elements; heads contiguous within it), so q, k and v
// may be slices of one fused projection output. lse [T, H] F32 is contiguous. cu_seqlens [n+1] I32 is in
// device memory; max_seqlen (the longest sequence) comes from the host.
#pragma once

#include "strand/ops/cuda/launch.h"

namespace strand::cuda {

struct AttentionShape {
  int64_t tokens = 0;
  int64_t num_seqs = 0;
  int64_t max_seqlen = 0;
  int64_t heads = 0;
  int64_t kv_heads = 0;
  int64_t head_dim = 0;
  bool causal = true;
  float scale = 0;  // softmax scale (the entry point resolves 0 to 1/sqrt(D))
};

struct AttentionTensors {
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  int64_t ld_q = 0, ld_k = 0, ld_v = 0;
  void* out = nullptr;  // forward output; backward input
  int64_t ld_out = 0;
  float* lse = nullptr;  // forward output; backward input
  const int32_t* cu_seqlens = nullptr;
};

struct AttentionGrads {
  const void* dout = nullptr;
  int64_t ld_dout = 0;
  void* dq = nullptr;  // assigned
  void* dk = nullptr;  // assigned
  void* dv = nullptr;  // assigned
  int64_t ld_dq = 0, ld_dk = 0, ld_dv = 0;
};

// cuDNN's fused flash attention (graph API, ragged offsets for the packed layout). BF16 only; head_dim a
// multiple of 8 and at most 128 (256 forward). Returns false, doing nothing, when cuDNN does not support the
// shape, so the caller can fall back.
bool cudnn_attention_supported(DType act, const AttentionShape& shape);
void cudnn_attention_forward(DType act, const AttentionShape& shape, const AttentionTensors& t,
                             cudaStream_t stream);
void cudnn_attention_backward(DType act, const AttentionShape& shape, const AttentionTensors& t,
                              const AttentionGrads& g, cudaStream_t stream);

// A plain reference kernel (F32 or BF16, any head_dim up to 256): one query row per thread block tile,
// exact two-pass softmax in F32. Slow; for tests and for shapes cuDNN rejects.
void reference_attention_forward(DType act, const AttentionShape& shape, const AttentionTensors& t,
                                 cudaStream_t stream);
void reference_attention_backward(DType act, const AttentionShape& shape, const AttentionTensors& t,
                                  const AttentionGrads& g, cudaStream_t stream);

}  // namespace strand::cuda
