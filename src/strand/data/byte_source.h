// Byte streams from files, decompressed on the fly: plain, gzip (every member of a multi-member file, as
// bgzip writes), zstd (every frame) and xz (every stream). The compression is detected from the first bytes,
// never from the file name:
//   1f 8b             gzip
//   28 b5 2f fd       zstd
//   fd 37 7a 58 5a 00 xz
// bzip2 ("BZh") and zip ("PK\x03\x04") are recognised only to be refused with a message that says so.
//
// A truncated or corrupt compressed stream is an error naming the file, never a silent short read.
// Memory is bounded: each source holds one fixed input buffer (and the decoder's own state).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace strand::data {

enum class Compression { None, Gzip, Zstd, Xz };

std::string_view compression_name(Compression c);  // "none", "gzip", "zstd", "xz"

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Copies up to `n` (> 0) bytes into `buffer`; returns how many, 0 only at the end of the data.
  // Throws strand::Error "<file>: <what>" on a read error or a truncated/corrupt compressed stream.
  virtual size_t read(char* buffer, size_t n) = 0;
  virtual Compression compression() const = 0;
  virtual const std::string& path() const = 0;
};

// Opens `path` and detects its compression. Throws strand::Error naming the file if it cannot be opened or
// uses an unsupported compression.
std::unique_ptr<ByteSource> open_byte_source(const std::string& path);

}  // namespace strand::data
