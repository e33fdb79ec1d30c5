// Rotary position embedding, rotate-half layout (transformers' rotate_half; GPT-NeoX style, not interleaved).
//
// For head dim D and i < D/2, the pair (x_i, x_{i+D/2}) at position p is rotated by angle p * inv_freq[i]:
//   out_i       = x_i cos - x_{i+D/2} sin
//   out_{i+D/2} = x_{i+D/2} cos + x_i sin
// Angles and their cos/sin are computed in double and rounded once to the op's dtype.
#pragma once

#include "strand/core/tensor.h"

#include <string>
#include <vector>

namespace strand {

struct RopeOptions {
  double theta = 10000.0;
  int64_t rotary_dim = 0;  // D: the head dim (every dimension rotates)
  // Llama 3 frequency scaling ("rope_type": "llama3"); off when factor == 0.
  double factor = 0.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position = 8192;
};

// inv_freq [D/2]: theta^(-2i/D), then, with llama3 scaling, for wavelength w = 2 pi / f:
//   w > orig / low_freq_factor  -> f / factor      (long wavelengths slowed)
//   w < orig / high_freq_factor -> f               (short wavelengths kept)
//   otherwise                   -> (1 - s) f / factor + s f,  s = (orig / w - low) / (high - low)
std::vector<double> rope_inv_freq(const RopeOptions& options);

// out, x [T, H, D], each row-strided or contiguous (q and k may be rotated together as one slice of a fused
// q/k/v projection output); positions [T] I32. out may alias x (in place).
void rope_forward(const Tensor& out, const Tensor& x, const Tensor& positions,
                  const std::vector<double>& inv_freq);
// dx = rotation of dy by the negative angle (the transpose of the forward rotation). dx may alias dy.
void rope_backward(const Tensor& dx, const Tensor& dy, const Tensor& positions,
                   const std::vector<double>& inv_freq);

}  // namespace strand
