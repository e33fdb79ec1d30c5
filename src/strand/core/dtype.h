// Element types and their conversions.
//
// Narrow float formats are stored as raw bits (uint16_t / uint8_t) and converted with round-to-nearest-even,
// bit-exact with IEEE 754 / OCP FP8 and with PyTorch's casts:
//   bf16     1-8-7,  bias 127, inf and NaN as in fp32
//   fp16     1-5-10, bias 15,  subnormals, inf 0x7C00
//   fp8 e4m3 1-4-3,  bias 7,   "fn": no inf, NaN = S.1111.111, max 448, subnormals down to 2^-9
//   fp8 e5m2 1-5-2,  bias 15,  inf 0x7C, NaN 0x7D..0x7F, max 57344, subnormals down to 2^-16
// Overflow gives inf (fp16, bf16, e5m2) or NaN (e4m3, which has no inf) unless `saturate` is set, in which
// case finite values clamp to the largest finite magnitude (what FP8 training recipes use); NaN stays NaN.
#pragma once

#include "strand/core/host_device.h"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace strand {

enum class DType : uint8_t {
  F32,
  F64,
  BF16,
  F16,
  F8E4M3,
  F8E5M2,
  I64,
  I32,
  I16,
  I8,
  U8,
  U16,
  U32,
  U64,
  Bool
};

size_t dtype_size(DType t);
// Name as written in safetensors headers ("F32", "BF16", "F8_E4M3", ...).
std::string_view dtype_name(DType t);
std::optional<DType> dtype_from_name(std::string_view name);
bool dtype_is_float(DType t);

namespace detail {

STRAND_HD uint32_t f32_bits(float x) {
  uint32_t u;
  memcpy(&u, &x, 4);
  return u;
}
STRAND_HD float bits_f32(uint32_t u) {
  float x;
  memcpy(&x, &u, 4);
  return x;
}

// A binary float format narrower than fp32: exponent and mantissa widths, and how its top exponent is used.
struct NarrowFormat {
  int exp_bits;
  int man_bits;
  bool has_inf;       // top exponent = inf (mantissa 0) / NaN; otherwise only all-ones is NaN (e4m3fn)
  uint32_t nan_bits;  // canonical quiet NaN, sign excluded
};

inline constexpr NarrowFormat kBF16{8, 7, true, 0x7FC0};
inline constexpr NarrowFormat kF16{5, 10, true, 0x7E00};
inline constexpr NarrowFormat kF8E4M3{4, 3, false, 0x7F};
inline constexpr NarrowFormat kF8E5M2{5, 2, true, 0x7E};

// Largest finite magnitude's bit pattern (sign excluded).
STRAND_HD uint32_t narrow_max_finite(NarrowFormat f) {
  const uint32_t all_exp = (1u << f.exp_bits) - 1;
  const uint32_t all_man = (1u << f.man_bits) - 1;
  return f.has_inf ? (((all_exp - 1) << f.man_bits) | all_man) : ((all_exp << f.man_bits) | (all_man - 1));
}

STRAND_HD uint32_t narrow_from_f32(float x, NarrowFormat f, bool saturate) {
  const uint32_t u = f32_bits(x);
  const uint32_t sign = (u >> 31) << (f.exp_bits + f.man_bits);
  const uint32_t abs = u & 0x7FFFFFFFu;
  if (abs > 0x7F800000u) return sign | f.nan_bits;
  const uint32_t max_finite = narrow_max_finite(f);
  const uint32_t overflow =
      saturate ? max_finite : (f.has_inf ? ((1u << f.exp_bits) - 1) << f.man_bits : f.nan_bits);
  if (abs == 0x7F800000u) return sign | (saturate ? max_finite : overflow);

  const int bias = (1 << (f.exp_bits - 1)) - 1;
  const int min_normal_exp = 1 - bias;
  int e = static_cast<int>(abs >> 23) - 127;
  uint32_t significand = abs & 0x7FFFFFu;
  if (e == -127) {
    e = -126;  // fp32 subnormal: no implicit bit
  } else {
    significand |= 0x800000u;
  }
  // Bits of the 24-bit significand dropped to fit man_bits, plus the extra shift of a target subnormal.
  int drop = 23 - f.man_bits + (e < min_normal_exp ? min_normal_exp - e : 0);
  if (drop > 25) return sign;  // below half the smallest subnormal
  uint32_t q = significand >> drop;
  const uint32_t rem = significand & ((1u << drop) - 1);
  const uint32_t half = 1u << (drop - 1);
  if (rem > half || (rem == half && (q & 1u))) ++q;
  uint32_t bits;
  if (e < min_normal_exp) {
    bits = q;  // subnormal field; a carry into bit man_bits lands exactly on the smallest normal
  } else {
    // q holds the implicit bit; a rounding carry to 2^(man_bits+1) bumps the exponent through the addition.
    bits = (static_cast<uint32_t>(e + bias) << f.man_bits) + q - (1u << f.man_bits);
  }
  if (bits > max_finite) return sign | overflow;
  return sign | bits;
}

STRAND_HD float narrow_to_f32(uint32_t bits, NarrowFormat f) {
  const int width = f.exp_bits + f.man_bits;
  const uint32_t sign = ((bits >> width) & 1u) << 31;
  const uint32_t exp = (bits >> f.man_bits) & ((1u << f.exp_bits) - 1);
  const uint32_t man = bits & ((1u << f.man_bits) - 1);
  const int bias = (1 << (f.exp_bits - 1)) - 1;
  const uint32_t all_exp = (1u << f.exp_bits) - 1;
  if (f.has_inf && exp == all_exp)
    return bits_f32(sign | 0x7F800000u | (man << (23 - f.man_bits)) | (man ? 0x400000u : 0));
  if (!f.has_inf && exp == all_exp && man == (1u << f.man_bits) - 1) return bits_f32(sign | 0x7FC00000u);
  if (exp == 0) {
    // Subnormal: man * 2^(1 - bias - man_bits), exact in fp32 for every format here.
    float v = static_cast<float>(man);
    for (int i = 0; i < bias - 1 + f.man_bits; ++i) v *= 0.5f;
    return bits_f32(sign | f32_bits(v));
  }
  return bits_f32(sign | (static_cast<uint32_t>(static_cast<int>(exp) - bias + 127) << 23) |
                  (man << (23 - f.man_bits)));
}

}  // namespace detail

STRAND_HD uint16_t f32_to_bf16(float x, bool saturate = false) {
  return static_cast<uint16_t>(detail::narrow_from_f32(x, detail::kBF16, saturate));
}
STRAND_HD float bf16_to_f32(uint16_t b) {
  return detail::bits_f32(static_cast<uint32_t>(b) << 16);
}
STRAND_HD uint16_t f32_to_f16(float x, bool saturate = false) {
  return static_cast<uint16_t>(detail::narrow_from_f32(x, detail::kF16, saturate));
}
STRAND_HD float f16_to_f32(uint16_t h) {
  return detail::narrow_to_f32(h, detail::kF16);
}
STRAND_HD uint8_t f32_to_f8e4m3(float x, bool saturate = false) {
  return static_cast<uint8_t>(detail::narrow_from_f32(x, detail::kF8E4M3, saturate));
}
STRAND_HD float f8e4m3_to_f32(uint8_t b) {
  return detail::narrow_to_f32(b, detail::kF8E4M3);
}
STRAND_HD uint8_t f32_to_f8e5m2(float x, bool saturate = false) {
  return static_cast<uint8_t>(detail::narrow_from_f32(x, detail::kF8E5M2, saturate));
}
STRAND_HD float f8e5m2_to_f32(uint8_t b) {
  return detail::narrow_to_f32(b, detail::kF8E5M2);
}

// Converts n elements between any two dtypes on the host (integers convert by value; floats to integers
// truncate toward zero). Float narrowing rounds to nearest even. Multithreaded for large n.
void convert_elements(const void* src, DType src_type, void* dst, DType dst_type, size_t n,
                      bool saturate = false);

}  // namespace strand
