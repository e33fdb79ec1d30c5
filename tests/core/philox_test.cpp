#include "strand/core/philox.h"

#include <gtest/gtest.h>

#include <cmath>

namespace strand {
namespace {

// Known-answer vectors published with the Random123 library (kat_vectors), counter then key.
TEST(Philox, KnownAnswers) {
  struct Kat {
    Philox4 ctr;
    uint32_t k0, k1;
    Philox4 expect;
  };
  const Kat kats[] = {
      {{{0, 0, 0, 0}}, 0, 0, {{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}}},
      {{{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}},
       0xffffffff,
       0xffffffff,
       {{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}}},
      {{{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}},
       0xa4093822,
       0x299f31d0,
       {{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}}},
  };
  for (const auto& k : kats) {
    const Philox4 out = philox4x32_10(k.ctr, k.k0, k.k1);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(out.v[i], k.expect.v[i]) << i;
  }
}

TEST(Philox, StreamsAreIndependentOfOrder) {
  // Element i is the same whether or not others were drawn before it.
  EXPECT_EQ(philox_bits(7, 3, 1000), philox_bits(7, 3, 1000));
  EXPECT_NE(philox_bits(7, 3, 1000), philox_bits(7, 4, 1000));
  EXPECT_NE(philox_bits(7, 3, 1000), philox_bits(8, 3, 1000));
  // Block layout: elements 0..3 are the four words of counter 0.
  const Philox4 block0 = philox4x32_10(Philox4{{0, 0, 3, 0}}, 7, 0);
  for (uint32_t i = 0; i < 4; ++i) EXPECT_EQ(philox_bits(7, 3, i), block0.v[i]);
}

TEST(Philox, UniformAndNormalMoments) {
  const int n = 200000;
  double su = 0, sn = 0, sn2 = 0, sn4 = 0;
  float umin = 1, umax = 0;
  for (int i = 0; i < n; ++i) {
    const float u = philox_uniform(42, 0, static_cast<uint64_t>(i));
    umin = std::min(umin, u);
    umax = std::max(umax, u);
    su += u;
    const double z = philox_normal(42, 1, static_cast<uint64_t>(i));
    sn += z;
    sn2 += z * z;
    sn4 += z * z * z * z;
  }
  EXPECT_GT(umin, 0.0f);
  EXPECT_LT(umax, 1.0f);
  EXPECT_NEAR(su / n, 0.5, 0.005);
  EXPECT_NEAR(sn / n, 0.0, 0.01);
  EXPECT_NEAR(sn2 / n, 1.0, 0.01);
  EXPECT_NEAR(sn4 / n, 3.0, 0.05);  // kurtosis of a normal
}

}  // namespace
}  // namespace strand
