// Softmax cross-entropy on the GPU for small vocabularies (a row of logits fits a warp's registers); see
// ops/loss.h.
#pragma once

#include "strand/ops/cuda/launch.h"

namespace strand::cuda {

inline constexpr int64_t kMaxCrossEntropyVocab = 4096;

// logits [rows, vocab] (act); labels [rows] I32; weights [rows] F32 or null (all ones).
// losses [rows] F32: unweighted -log softmax at the label, 0 where ignored; lse [rows] F32.
// sums [3] F64 += (sum of w * loss, sum of w, count) over counted rows (label != ignore and w != 0),
// reduced deterministically; sums may be null.
void cross_entropy_forward(DType act, float* losses, float* lse, double* sums, const void* logits,
                           const int32_t* labels, const float* weights, int64_t rows, int64_t vocab,
                           int32_t ignore_index, cudaStream_t stream);
// dlogits (assigned, act) = scale * w * (softmax - onehot), zero rows where ignored. scale is read from
// device memory when scale_device is non-null (multiplied by `scale`), so a normaliser computed on the GPU
// needs no host round trip.
void cross_entropy_backward(DType act, void* dlogits, const void* logits, const int32_t* labels,
                            const float* weights, const float* lse, float scale, const float* scale_device,
                            int64_t rows, int64_t vocab, int32_t ignore_index, cudaStream_t stream);

}  // namespace strand::cuda
