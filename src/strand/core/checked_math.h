// Integer arithmetic on sizes that come from user input (a recipe, a config.json): an overflow is an error
// naming what was being sized, never undefined behaviour or a wrapped, too-small allocation.
#pragma once

#include "strand/core/error.h"

#include <cstdint>
#include <string_view>

namespace strand {

inline int64_t checked_mul(int64_t a, int64_t b, std::string_view what) {
  int64_t out = 0;
  STRAND_CHECK(!__builtin_mul_overflow(a, b, &out), "{}: {} x {} overflows a 64-bit integer", what, a, b);
  return out;
}

inline int64_t checked_add(int64_t a, int64_t b, std::string_view what) {
  int64_t out = 0;
  STRAND_CHECK(!__builtin_add_overflow(a, b, &out), "{}: {} + {} overflows a 64-bit integer", what, a, b);
  return out;
}

}  // namespace strand
