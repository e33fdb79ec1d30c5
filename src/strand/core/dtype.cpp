#include "strand/core/dtype.h"

#include "strand/core/error.h"

#include <array>
#include <cmath>

namespace strand {
namespace {

struct DTypeInfo {
  DType type;
  std::string_view name;
  size_t size;
  bool is_float;
};

constexpr std::array<DTypeInfo, 15> kInfo{{
    {DType::F32, "F32", 4, true},
    {DType::F64, "F64", 8, true},
    {DType::BF16, "BF16", 2, true},
    {DType::F16, "F16", 2, true},
    {DType::F8E4M3, "F8_E4M3", 1, true},
    {DType::F8E5M2, "F8_E5M2", 1, true},
    {DType::I64, "I64", 8, false},
    {DType::I32, "I32", 4, false},
    {DType::I16, "I16", 2, false},
    {DType::I8, "I8", 1, false},
    {DType::U8, "U8", 1, false},
    {DType::U16, "U16", 2, false},
    {DType::U32, "U32", 4, false},
    {DType::U64, "U64", 8, false},
    {DType::Bool, "BOOL", 1, false},
}};

const DTypeInfo& info(DType t) {
  const auto i = static_cast<size_t>(t);
  STRAND_ASSERT(i < kInfo.size() && kInfo[i].type == t);
  return kInfo[i];
}

// Element i of a buffer of type t, as a double (exact for every type but the 64-bit integers beyond 2^53).
double load(const void* p, DType t, size_t i) {
  switch (t) {
    case DType::F32:
      return static_cast<const float*>(p)[i];
    case DType::F64:
      return static_cast<const double*>(p)[i];
    case DType::BF16:
      return bf16_to_f32(static_cast<const uint16_t*>(p)[i]);
    case DType::F16:
      return f16_to_f32(static_cast<const uint16_t*>(p)[i]);
    case DType::F8E4M3:
      return f8e4m3_to_f32(static_cast<const uint8_t*>(p)[i]);
    case DType::F8E5M2:
      return f8e5m2_to_f32(static_cast<const uint8_t*>(p)[i]);
    case DType::I64:
      return static_cast<double>(static_cast<const int64_t*>(p)[i]);
    case DType::I32:
      return static_cast<const int32_t*>(p)[i];
    case DType::I16:
      return static_cast<const int16_t*>(p)[i];
    case DType::I8:
      return static_cast<const int8_t*>(p)[i];
    case DType::U8:
      return static_cast<const uint8_t*>(p)[i];
    case DType::U16:
      return static_cast<const uint16_t*>(p)[i];
    case DType::U32:
      return static_cast<const uint32_t*>(p)[i];
    case DType::U64:
      return static_cast<double>(static_cast<const uint64_t*>(p)[i]);
    case DType::Bool:
      return static_cast<const uint8_t*>(p)[i] != 0;
  }
  STRAND_ASSERT(false);
}

template <typename I>
I to_integer(double v) {
  return std::isnan(v) ? I{0} : static_cast<I>(v);
}

void store(void* p, DType t, size_t i, double v, bool saturate) {
  // Narrow floats round from fp32, as PyTorch does, so a double source rounds twice exactly like a torch
  // cast.
  const float f = static_cast<float>(v);
  switch (t) {
    case DType::F32:
      static_cast<float*>(p)[i] = f;
      return;
    case DType::F64:
      static_cast<double*>(p)[i] = v;
      return;
    case DType::BF16:
      static_cast<uint16_t*>(p)[i] = f32_to_bf16(f, saturate);
      return;
    case DType::F16:
      static_cast<uint16_t*>(p)[i] = f32_to_f16(f, saturate);
      return;
    case DType::F8E4M3:
      static_cast<uint8_t*>(p)[i] = f32_to_f8e4m3(f, saturate);
      return;
    case DType::F8E5M2:
      static_cast<uint8_t*>(p)[i] = f32_to_f8e5m2(f, saturate);
      return;
    case DType::I64:
      static_cast<int64_t*>(p)[i] = to_integer<int64_t>(v);
      return;
    case DType::I32:
      static_cast<int32_t*>(p)[i] = to_integer<int32_t>(v);
      return;
    case DType::I16:
      static_cast<int16_t*>(p)[i] = to_integer<int16_t>(v);
      return;
    case DType::I8:
      static_cast<int8_t*>(p)[i] = to_integer<int8_t>(v);
      return;
    case DType::U8:
      static_cast<uint8_t*>(p)[i] = to_integer<uint8_t>(v);
      return;
    case DType::U16:
      static_cast<uint16_t*>(p)[i] = to_integer<uint16_t>(v);
      return;
    case DType::U32:
      static_cast<uint32_t*>(p)[i] = to_integer<uint32_t>(v);
      return;
    case DType::U64:
      static_cast<uint64_t*>(p)[i] = to_integer<uint64_t>(v);
      return;
    case DType::Bool:
      static_cast<uint8_t*>(p)[i] = v != 0.0;
      return;
  }
  STRAND_ASSERT(false);
}

}  // namespace

size_t dtype_size(DType t) {
  return info(t).size;
}
std::string_view dtype_name(DType t) {
  return info(t).name;
}
bool dtype_is_float(DType t) {
  return info(t).is_float;
}

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& i : kInfo)
    if (i.name == name) return i.type;
  return std::nullopt;
}

void convert_elements(const void* src, DType src_type, void* dst, DType dst_type, size_t n, bool saturate) {
  if (src_type == dst_type) {
    memcpy(dst, src, n * dtype_size(src_type));
    return;
  }
  // 64-bit integers do not survive a trip through double; copy them by value directly.
  if ((src_type == DType::I64 || src_type == DType::I32) &&
      (dst_type == DType::I64 || dst_type == DType::I32)) {
    for (size_t i = 0; i < n; ++i) {
      const int64_t v =
          src_type == DType::I64 ? static_cast<const int64_t*>(src)[i] : static_cast<const int32_t*>(src)[i];
      if (dst_type == DType::I64) {
        static_cast<int64_t*>(dst)[i] = v;
      } else {
        STRAND_CHECK(v >= INT32_MIN && v <= INT32_MAX, "value {} at element {} does not fit in I32", v, i);
        static_cast<int32_t*>(dst)[i] = static_cast<int32_t>(v);
      }
    }
    return;
  }
#pragma omp parallel for schedule(static) if (n > (1u << 16))
  for (size_t i = 0; i < n; ++i) store(dst, dst_type, i, load(src, src_type, i), saturate);
}

}  // namespace strand
