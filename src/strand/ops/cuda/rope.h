// Rotary position embedding on the GPU (rotate-half layout; see ops/rope.h).
#pragma once

#include "strand/ops/cuda/launch.h"

namespace strand::cuda {

inline constexpr int kMaxRopePairs = 256;  // head_dim / 2 <= this

// The per-pair frequencies, passed by value so no upload is needed.
struct RopeFrequencies {
  double inv_freq[kMaxRopePairs];
  int pairs = 0;  // head_dim / 2
};

// out[t, h, :] = rotation of x[t, h, :] by angle positions[t] * inv_freq (by the negative angle if inverse).
// x and out are [tokens, heads, head_dim] with row (token) strides ld_x and ld_out in elements; heads are
// contiguous within a row. out may alias x. Angles are computed in F64 once per (token, pair), their cos and
// sin rounded to F32.
void rope_apply(DType act, void* out, int64_t ld_out, const void* x, int64_t ld_x, const int32_t* positions,
                int64_t tokens, int64_t heads, int64_t head_dim, const RopeFrequencies& freqs, bool inverse,
                cudaStream_t stream);

}  // namespace strand::cuda
