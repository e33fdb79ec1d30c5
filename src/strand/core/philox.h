// Philox4x32-10: a counter-based random generator (Salmon et al., SC'11), the one cuRAND and PyTorch's CUDA
// generator use. Output is a pure function of (key, counter), so any element of any stream can be computed
// independently, in any order, on any thread or device, and the CPU and CUDA sides produce identical bits.
//
// Strand's streams: key = the 64-bit seed; counter = (block index lo, hi, stream lo, hi), where block b
// yields elements 4b..4b+3. This is cuRAND's layout for curand_init(seed, subsequence = stream, offset = 4b).
#pragma once

#include "strand/core/host_device.h"

#include <cmath>
#include <cstdint>

namespace strand {

struct Philox4 {
  uint32_t v[4];
};

STRAND_HD Philox4 philox4x32_10(Philox4 ctr, uint32_t key0, uint32_t key1) {
  constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = static_cast<uint64_t>(kMul0) * ctr.v[0];
    const uint64_t p1 = static_cast<uint64_t>(kMul1) * ctr.v[2];
    const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    ctr = Philox4{{hi1 ^ ctr.v[1] ^ key0, lo1, hi0 ^ ctr.v[3] ^ key1, lo0}};
    key0 += kWeyl0;
    key1 += kWeyl1;
  }
  return ctr;
}

// 32 random bits: element `index` of stream `stream` under `seed`.
STRAND_HD uint32_t philox_bits(uint64_t seed, uint64_t stream, uint64_t index) {
  const uint64_t block = index >> 2;
  const Philox4 out =
      philox4x32_10(Philox4{{static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32),
                             static_cast<uint32_t>(stream), static_cast<uint32_t>(stream >> 32)}},
                    static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
  return out.v[index & 3];
}

// Uniform in the open interval (0, 1): the top 24 bits plus a half step, exact in fp32 on every device.
STRAND_HD float bits_to_uniform(uint32_t bits) {
  return (static_cast<float>(bits >> 8) + 0.5f) * (1.0f / 16777216.0f);
}

// Standard normal for element `index`: Box-Muller on the uniform pair (2k, 2k+1), cosine branch for even
// indices and sine branch for odd ones, so each pair of outputs consumes one pair of uniforms. Computed in
// double; host and device libm agree to the last bit of the fp32 result in all but rare ties.
STRAND_HD float philox_normal(uint64_t seed, uint64_t stream, uint64_t index) {
  const uint64_t pair = index & ~uint64_t{1};
  const double u1 = bits_to_uniform(philox_bits(seed, stream, pair));
  const double u2 = bits_to_uniform(philox_bits(seed, stream, pair + 1));
  const double radius = sqrt(-2.0 * log(u1));
  const double angle = 6.283185307179586 * u2;
  return static_cast<float>((index & 1) ? radius * sin(angle) : radius * cos(angle));
}

STRAND_HD float philox_uniform(uint64_t seed, uint64_t stream, uint64_t index) {
  return bits_to_uniform(philox_bits(seed, stream, index));
}

}  // namespace strand
