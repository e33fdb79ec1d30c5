#include "strand/ops/rope.h"

#include "strand/ops/cpu/cpu_ops.h"
#include "strand/ops/dispatch.h"
#include "strand/ops/work_profile.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#if defined(STRAND_WITH_CUDA)
#include "strand/cuda/runtime.h"
#include "strand/ops/cuda/rope.h"
#endif

namespace strand {

std::vector<double> rope_inv_freq(const RopeOptions& options) {
  const int64_t dim = options.rotary_dim;
  STRAND_CHECK(dim > 0 && dim % 2 == 0, "rope: rotary_dim must be even and positive, got {}", dim);
  STRAND_CHECK(std::isfinite(options.theta) && options.theta > 0.0,
               "rope: theta must be finite and positive, got {}", options.theta);
  STRAND_CHECK(std::isfinite(options.factor) && options.factor >= 0.0,
               "rope: factor must be >= 0 (0 turns llama3 scaling off), got {}", options.factor);

  // inv_freq[i] = 1 / theta^(2i / D).
  std::vector<double> inv_freq(static_cast<size_t>(dim / 2));
  for (size_t i = 0; i < inv_freq.size(); ++i)
    inv_freq[i] = 1.0 / std::pow(options.theta, static_cast<double>(2 * i) / static_cast<double>(dim));
  if (options.factor == 0.0) return inv_freq;

  // Llama 3 scaling: long wavelengths are slowed by `factor`, short ones kept, and the band in between
  // interpolates linearly in orig / wavelength (continuous at both edges).
  const double low = options.low_freq_factor, high = options.high_freq_factor;
  STRAND_CHECK(options.original_max_position > 0, "rope: original_max_position must be positive, got {}",
               options.original_max_position);
  STRAND_CHECK(low > 0.0 && high > low, "rope: need 0 < low_freq_factor < high_freq_factor, got {} and {}",
               low, high);
  const double orig = static_cast<double>(options.original_max_position);
  const double low_freq_wavelen = orig / low;    // longer than this: slowed
  const double high_freq_wavelen = orig / high;  // shorter than this: kept
  for (double& f : inv_freq) {
    const double wavelen = 2.0 * std::numbers::pi / f;
    if (wavelen > low_freq_wavelen) {
      f = f / options.factor;
    } else if (wavelen >= high_freq_wavelen) {
      const double s = (orig / wavelen - low) / (high - low);
      f = (1.0 - s) * f / options.factor + s * f;
    }
  }
  return inv_freq;
}

namespace {

void rope_apply(const char* op, const Tensor& out, const char* out_name, const Tensor& x, const char* x_name,
                const Tensor& positions, const std::vector<double>& inv_freq, double sign) {
  const Device device =
      ops_detail::common_device(op, {{out_name, out}, {x_name, x}, {"positions", positions}});
  const WorkScope scope(WorkKind::elementwise, device, op, shape_of(x));
  const int64_t ld_x = ops_detail::check_act_rows(x, x_name, {-1, -1, -1});
  const int64_t tokens = x.size(0), heads = x.size(1), dim = x.size(2);
  const int64_t ld_out = ops_detail::check_rows(out, out_name, x.dtype(), {tokens, heads, dim});
  check_tensor(positions, "positions", DType::I32, {tokens});
  STRAND_CHECK(static_cast<int64_t>(inv_freq.size()) * 2 == dim,
               "{}: inv_freq has {} entries, but head dim {} needs {} (rotary_dim must equal the head dim)",
               op, inv_freq.size(), dim, dim / 2);
  if (device.type == DeviceType::CPU) {
    cpu::rope_apply(out, ld_out, x, ld_x, positions, inv_freq, sign);
    return;
  }
#if defined(STRAND_WITH_CUDA)
  STRAND_CHECK(dim / 2 <= cuda::kMaxRopePairs, "{}: head dim {} exceeds the CUDA kernel's {}", op, dim,
               2 * cuda::kMaxRopePairs);
  cuda::RopeFrequencies freqs;
  freqs.pairs = static_cast<int>(dim / 2);
  std::copy(inv_freq.begin(), inv_freq.end(), freqs.inv_freq);
  cuda::rope_apply(x.dtype(), out.raw(), ld_out, x.raw(), ld_x, positions.data<int32_t>(), tokens, heads, dim,
                   freqs, sign < 0, cuda::stream());
#else
  ops_detail::no_cuda(op);
#endif
}

}  // namespace

void rope_forward(const Tensor& out, const Tensor& x, const Tensor& positions,
                  const std::vector<double>& inv_freq) {
  rope_apply("rope_forward", out, "out", x, "x", positions, inv_freq, 1.0);
}

// The rotation is orthogonal, so its transpose is the rotation by the negative angle.
void rope_backward(const Tensor& dx, const Tensor& dy, const Tensor& positions,
                   const std::vector<double>& inv_freq) {
  rope_apply("rope_backward", dx, "dx", dy, "dy", positions, inv_freq, -1.0);
}

}  // namespace strand
