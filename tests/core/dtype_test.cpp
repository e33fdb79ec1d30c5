// Bit-exact rounding of the narrow float formats, checked against hand-derived patterns (IEEE 754 and OCP FP8
// encodings) rather than against the code under test.
#include "strand/core/dtype.h"
#include "strand/core/error.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace strand {
namespace {

float from_bits(uint32_t u) {
  return detail::bits_f32(u);
}
const float kInf = std::numeric_limits<float>::infinity();
const float kNaN = std::numeric_limits<float>::quiet_NaN();

TEST(DType, Bf16RoundsToNearestEven) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(f32_to_bf16(-2.0f), 0xC000);
  EXPECT_EQ(f32_to_bf16(from_bits(0x3F808000)), 0x3F80);  // tie, even stays
  EXPECT_EQ(f32_to_bf16(from_bits(0x3F818000)), 0x3F82);  // tie, odd rounds up
  EXPECT_EQ(f32_to_bf16(from_bits(0x3F808001)), 0x3F81);  // above half
  EXPECT_EQ(f32_to_bf16(from_bits(0x3F807FFF)), 0x3F80);  // below half
  EXPECT_EQ(f32_to_bf16(from_bits(0x7F7FFFFF)), 0x7F80);  // FLT_MAX rounds to inf
  EXPECT_EQ(f32_to_bf16(from_bits(0x7F7FFFFF), true), 0x7F7F);
  EXPECT_EQ(f32_to_bf16(kInf), 0x7F80);
  EXPECT_EQ(f32_to_bf16(-kInf), 0xFF80);
  EXPECT_EQ(f32_to_bf16(kNaN) & 0x7FFF, 0x7FC0);
  EXPECT_EQ(f32_to_bf16(from_bits(0x00010000)), 0x0001);  // fp32 subnormal stays subnormal
  EXPECT_EQ(f32_to_bf16(-0.0f), 0x8000);
  EXPECT_EQ(bf16_to_f32(0x4049), 3.140625f);
}

TEST(DType, F16RoundsToNearestEven) {
  EXPECT_EQ(f32_to_f16(1.0f), 0x3C00);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7BFF);
  EXPECT_EQ(f32_to_f16(65519.0f), 0x7BFF);
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7C00);  // halfway to 2^16 rounds to inf
  EXPECT_EQ(f32_to_f16(65520.0f, true), 0x7BFF);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);  // tie to even: 0
  EXPECT_EQ(f32_to_f16(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(f32_to_f16(std::ldexp(3.0f, -25)), 0x0002);     // 1.5 ulps: tie to even 2
  EXPECT_EQ(f32_to_f16(std::ldexp(1023.5f, -24)), 0x0400);  // subnormal rounds up into the smallest normal
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3C00);  // tie, even
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(3.0f, -11)), 0x3C02);  // tie, odd up
  EXPECT_EQ(f32_to_f16(-kInf), 0xFC00);
  EXPECT_EQ(f32_to_f16(kNaN) & 0x7C00, 0x7C00);
  EXPECT_NE(f32_to_f16(kNaN) & 0x03FF, 0);
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(f16_to_f32(0x7BFF), 65504.0f);
  EXPECT_EQ(f16_to_f32(0xFC00), -kInf);
  EXPECT_TRUE(std::isnan(f16_to_f32(0x7E00)));
  EXPECT_EQ(f16_to_f32(0x3555), 0.333251953125f);
}

TEST(DType, F8E4M3) {
  EXPECT_EQ(f32_to_f8e4m3(1.0f), 0x38);
  EXPECT_EQ(f32_to_f8e4m3(448.0f), 0x7E);
  EXPECT_EQ(f32_to_f8e4m3(-448.0f), 0xFE);
  EXPECT_EQ(f32_to_f8e4m3(464.0f), 0x7E);  // halfway to the NaN slot: ties to even 448
  EXPECT_EQ(f32_to_f8e4m3(465.0f), 0x7F);  // overflow: e4m3fn has no inf, NaN
  EXPECT_EQ(f32_to_f8e4m3(1e6f, true), 0x7E);
  EXPECT_EQ(f32_to_f8e4m3(-1e6f, true), 0xFE);
  EXPECT_EQ(f32_to_f8e4m3(kInf), 0x7F);
  EXPECT_EQ(f32_to_f8e4m3(kNaN) & 0x7F, 0x7F);
  EXPECT_EQ(f32_to_f8e4m3(std::ldexp(1.0f, -9)), 0x01);   // smallest subnormal
  EXPECT_EQ(f32_to_f8e4m3(std::ldexp(1.0f, -10)), 0x00);  // tie to even: 0
  EXPECT_EQ(f32_to_f8e4m3(std::ldexp(3.0f, -10)), 0x02);  // 1.5 ulps: tie to even 2
  EXPECT_EQ(f32_to_f8e4m3(std::ldexp(1.0f, -6)), 0x08);   // smallest normal
  EXPECT_EQ(f32_to_f8e4m3(1.0625f), 0x38);                // tie between 1 and 1.125
  EXPECT_EQ(f32_to_f8e4m3(1.1875f), 0x3A);                // tie between 1.125 and 1.25, to even
  EXPECT_EQ(f8e4m3_to_f32(0x7E), 448.0f);
  EXPECT_EQ(f8e4m3_to_f32(0x01), std::ldexp(1.0f, -9));
  EXPECT_EQ(f8e4m3_to_f32(0xB8), -1.0f);
  EXPECT_TRUE(std::isnan(f8e4m3_to_f32(0x7F)));
  EXPECT_EQ(f8e4m3_to_f32(0x78), 256.0f);  // exponent 15 with mantissa < 7 is finite
}

TEST(DType, F8E5M2) {
  EXPECT_EQ(f32_to_f8e5m2(1.0f), 0x3C);
  EXPECT_EQ(f32_to_f8e5m2(57344.0f), 0x7B);
  EXPECT_EQ(f32_to_f8e5m2(61439.0f), 0x7B);
  EXPECT_EQ(f32_to_f8e5m2(61440.0f), 0x7C);  // halfway to 2^16: ties to even, which is inf
  EXPECT_EQ(f32_to_f8e5m2(61440.0f, true), 0x7B);
  EXPECT_EQ(f32_to_f8e5m2(-kInf), 0xFC);
  EXPECT_EQ(f32_to_f8e5m2(std::ldexp(1.0f, -16)), 0x01);
  EXPECT_EQ(f32_to_f8e5m2(std::ldexp(1.0f, -17)), 0x00);
  EXPECT_EQ(f8e5m2_to_f32(0x7B), 57344.0f);
  EXPECT_EQ(f8e5m2_to_f32(0x7C), kInf);
  EXPECT_TRUE(std::isnan(f8e5m2_to_f32(0x7E)));
  EXPECT_EQ(f8e5m2_to_f32(0x01), std::ldexp(1.0f, -16));
}

// Every finite code of each 8-bit format survives decode -> encode.
TEST(DType, F8RoundTripsEveryCode) {
  for (uint32_t b = 0; b < 256; ++b) {
    const float a = f8e4m3_to_f32(static_cast<uint8_t>(b));
    if (!std::isnan(a)) {
      EXPECT_EQ(f32_to_f8e4m3(a), b) << b;
    }
    const float c = f8e5m2_to_f32(static_cast<uint8_t>(b));
    if (!std::isnan(c)) {
      EXPECT_EQ(f32_to_f8e5m2(c), b) << b;
    }
  }
}

// Every finite fp16 survives decode -> encode, and the midpoint between neighbours rounds to the even one.
TEST(DType, F16ExhaustiveRoundTripAndTies) {
  for (uint32_t b = 0; b < 0x7C00; ++b) {
    const float a = f16_to_f32(static_cast<uint16_t>(b));
    ASSERT_EQ(f32_to_f16(a), b);
    ASSERT_EQ(f32_to_f16(-a), b | 0x8000);
    const float mid = (a + f16_to_f32(static_cast<uint16_t>(b + 1))) / 2;  // exact in fp32
    const uint32_t even = (b & 1) ? b + 1 : b;
    ASSERT_EQ(f32_to_f16(mid), even) << b;
  }
}

TEST(DType, NamesRoundTrip) {
  for (DType t : {DType::F32, DType::BF16, DType::F8E4M3, DType::I64, DType::Bool}) {
    EXPECT_EQ(dtype_from_name(dtype_name(t)), t);
  }
  EXPECT_EQ(dtype_name(DType::F8E5M2), "F8_E5M2");
  EXPECT_FALSE(dtype_from_name("F12").has_value());
  EXPECT_EQ(dtype_size(DType::BF16), 2u);
}

TEST(DType, ConvertElementsBetweenTypes) {
  const float src[4] = {1.5f, -2.25f, 3.0f, 1e9f};
  uint16_t bf[4];
  convert_elements(src, DType::F32, bf, DType::BF16, 4);
  EXPECT_EQ(bf[0], 0x3FC0);
  int32_t ints[4];
  convert_elements(src, DType::F32, ints, DType::I32, 3);
  EXPECT_EQ(ints[1], -2);
  const int64_t big[2] = {(int64_t{1} << 40) + 1, -3};
  int64_t copy[2];
  convert_elements(big, DType::I64, copy, DType::I64, 2);
  EXPECT_EQ(copy[0], big[0]);
  int32_t narrow[2];
  EXPECT_THROW(convert_elements(big, DType::I64, narrow, DType::I32, 2), Error);
}

}  // namespace
}  // namespace strand
