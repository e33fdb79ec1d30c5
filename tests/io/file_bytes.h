// Byte-level helpers for the file-format tests.
#pragma once

#include "strand/core/tensor.h"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <sstream>
#include <string>

namespace strand::io {

// Deterministic arbitrary bit patterns (NaNs and subnormals included for the float types).
inline Tensor random_tensor(const Shape& shape, DType dtype, uint32_t seed) {
  Tensor t = Tensor::empty(shape, dtype);
  std::mt19937 rng(seed);
  auto* p = static_cast<unsigned char*>(t.raw());
  for (size_t i = 0; i < t.nbytes(); ++i) p[i] = static_cast<unsigned char>(rng());
  return t;
}

// The tensor's elements as raw bytes, in row-major order.
inline std::string bytes_of(const Tensor& t) {
  const Tensor c = t.contiguous();
  return std::string(static_cast<const char*>(c.raw()), c.nbytes());
}

// A whole file's contents ("" if it cannot be read).
inline std::string read_text(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Lets a reader still waiting in open() of `fifo` go (it reads nothing) when no writer came, so that a
// failing test does not hang on its reading thread; a no-op once a writer has been.
inline void release_reader(const std::string& fifo) {
  const int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
  if (fd >= 0) ::close(fd);
}

}  // namespace strand::io
