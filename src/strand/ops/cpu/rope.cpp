// CPU reference of the rotary position embedding (see rope.h).
//
// One token's cos/sin table is computed in double and rounded once to T, then applied to every head of that
// token. Tokens are independent, so the OpenMP loop over tokens gives the same bits for any thread count.
#include "strand/ops/cpu/cpu_ops.h"
#include "strand/ops/dispatch.h"

#include <cmath>

namespace strand {

namespace {

// out[t, h] = rotation of x[t, h] by sign * positions[t] * inv_freq, pair (i, i + D/2). out may equal x: each
// pair is read before it is written.
template <typename T>
void rotate(T* out, int64_t ld_out, const T* x, int64_t ld_x, const int32_t* positions,
            const std::vector<double>& inv_freq, int64_t tokens, int64_t heads, int64_t dim, double sign) {
  const int64_t half = dim / 2;
#pragma omp parallel
  {
    std::vector<T> cos_t(static_cast<size_t>(half)), sin_t(static_cast<size_t>(half));
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tokens; ++t) {
      for (int64_t i = 0; i < half; ++i) {
        const double angle = static_cast<double>(positions[t]) * inv_freq[static_cast<size_t>(i)];
        cos_t[static_cast<size_t>(i)] = static_cast<T>(std::cos(angle));
        sin_t[static_cast<size_t>(i)] = static_cast<T>(sign * std::sin(angle));
      }
      for (int64_t h = 0; h < heads; ++h) {
        const T* xr = x + t * ld_x + h * dim;  // [D]
        T* yr = out + t * ld_out + h * dim;    // [D]
        for (int64_t i = 0; i < half; ++i) {
          const T c = cos_t[static_cast<size_t>(i)], s = sin_t[static_cast<size_t>(i)];
          const T a = xr[i], b = xr[i + half];
          yr[i] = a * c - b * s;
          yr[i + half] = b * c + a * s;
        }
      }
    }
  }
}

}  // namespace

namespace cpu {

void rope_apply(const Tensor& out, int64_t ld_out, const Tensor& x, int64_t ld_x, const Tensor& positions,
                const std::vector<double>& inv_freq, double sign) {
  const int64_t tokens = x.size(0), heads = x.size(1), dim = x.size(2);
  const int32_t* pos = positions.data<int32_t>();
  for (int64_t t = 0; t < tokens; ++t)
    STRAND_CHECK(pos[t] >= 0, "rope: positions[{}] = {} is negative", t, pos[t]);
  ops_detail::dispatch_float(x.dtype(), "rope", [&](auto tag) {
    using T = decltype(tag);
    rotate<T>(out.data<T>(), ld_out, x.data<T>(), ld_x, pos, inv_freq, tokens, heads, dim, sign);
  });
}

}  // namespace cpu
}  // namespace strand
