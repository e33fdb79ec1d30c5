// Errors: one exception type carrying a one-line message that names what was wrong (file and line, config
// key, tensor). Library code throws strand::Error; the command line catches it at the top and prints it.
//
// STRAND_CHECK is for conditions a user can cause (bad input, wrong shapes passed through the API);
// its message must make sense to that user. STRAND_ASSERT is for internal invariants and adds source
// file:line.
#pragma once

#include <stdexcept>
#include <string>

namespace strand {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Rethrows `e` with `context` in front: "loading model.safetensors: header length 12 beyond file size 8".
[[noreturn]] inline void rethrow_with_context(const Error& e, const std::string& context) {
  throw Error(context + ": " + e.what());
}

}  // namespace strand

// nvcc cannot evaluate fmt's compile-time format checks, so CUDA translation units throw strand::Error
// directly.
#if !defined(__CUDACC__)
#include <fmt/format.h>

#define STRAND_CHECK(cond, ...)                                   \
  do {                                                            \
    if (!(cond)) throw ::strand::Error(fmt::format(__VA_ARGS__)); \
  } while (0)

#define STRAND_ASSERT(cond)                                                                                \
  do {                                                                                                     \
    if (!(cond))                                                                                           \
      throw ::strand::Error(fmt::format("internal error: {} failed at {}:{}", #cond, __FILE__, __LINE__)); \
  } while (0)
#endif  // !defined(__CUDACC__)
