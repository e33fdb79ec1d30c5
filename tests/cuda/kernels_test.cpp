// The CUDA element functions against the host, bit for bit.
#include "strand/cuda/kernels.h"
#include "strand/core/device_memory.h"
#include "strand/core/dtype.h"
#include "strand/core/philox.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace strand {
namespace {

class Cuda : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device on this machine";
  }
};

// Values that stress rounding: random magnitudes over the whole fp32 range, ties, subnormals and specials.
std::vector<float> rounding_inputs() {
  std::vector<float> v;
  for (uint64_t i = 0; i < 200000; ++i) {
    const uint32_t bits = philox_bits(11, 0, i);
    float x;
    std::memcpy(&x, &bits, 4);
    v.push_back(x);
    v.push_back(std::ldexp(philox_normal(11, 1, i), static_cast<int>(i % 40) - 20));
  }
  for (float x : {0.0f, -0.0f, 448.0f, 464.0f, 465.0f, 57344.0f, 61440.0f, 65504.0f, 65520.0f,
                  std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                  std::numeric_limits<float>::denorm_min(), std::ldexp(1.0f, -24), std::ldexp(1.0f, -25)})
    v.push_back(x);
  return v;
}

TEST_F(Cuda, ConversionsMatchHostBitForBit) {
  const std::vector<float> in = rounding_inputs();
  const size_t n = in.size();
  Tensor src = Tensor::empty({static_cast<int64_t>(n)}, DType::F32);
  std::memcpy(src.raw(), in.data(), n * 4);
  const Tensor dsrc = src.to(Device::cuda());
  for (DType t : {DType::BF16, DType::F16, DType::F8E4M3, DType::F8E5M2}) {
    for (bool saturate : {false, true}) {
      Tensor dev = Tensor::empty(src.shape(), t, Device::cuda());
      cuda::convert_from_f32(dev.raw(), t, dsrc.data<float>(), n, saturate);
      const Tensor got = dev.to(Device::cpu());
      const Tensor want = src.to(t, saturate);
      int mismatches = 0;
      const size_t width = dtype_size(t);
      for (size_t i = 0; i < n; ++i) {
        const auto* a = static_cast<const unsigned char*>(got.raw()) + i * width;
        const auto* b = static_cast<const unsigned char*>(want.raw()) + i * width;
        const bool both_nan = std::isnan(in[i]);  // NaN payloads may differ; both must still be NaN
        if (!both_nan && std::memcmp(a, b, width) != 0) ++mismatches;
      }
      EXPECT_EQ(mismatches, 0) << dtype_name(t) << (saturate ? " saturating" : "");
    }
  }
}

TEST_F(Cuda, PhiloxStreamsMatchHost) {
  const size_t n = 1 << 16;
  Tensor bits = Tensor::empty({static_cast<int64_t>(n)}, DType::U32, Device::cuda());
  Tensor normals = Tensor::empty({static_cast<int64_t>(n)}, DType::F32, Device::cuda());
  cuda::philox_bits_fill(bits.data<uint32_t>(), n, 1234, 5);
  cuda::philox_normal_fill(normals.data<float>(), n, 1234, 5);
  const Tensor hb = bits.to(Device::cpu()), hn = normals.to(Device::cpu());
  int bit_mismatch = 0;
  float worst = 0;
  for (size_t i = 0; i < n; ++i) {
    bit_mismatch += hb.data<uint32_t>()[i] != philox_bits(1234, 5, i);
    const float h = philox_normal(1234, 5, i);
    worst = std::max(worst, std::abs(hn.data<float>()[i] - h) / std::max(1.0f, std::abs(h)));
  }
  EXPECT_EQ(bit_mismatch, 0);
  EXPECT_LE(worst, 2e-7f);  // libm and CUDA's double log/sin/cos may differ in the last bit
}

}  // namespace
}  // namespace strand
