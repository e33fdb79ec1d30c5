#include "strand/train/png.h"

#include "strand/core/error.h"

#include <zlib.h>

#include <vector>

namespace strand {
namespace {

void put_u32_be(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xFF));
}

// length, type, data, CRC-32 of type and data.
void put_chunk(std::string& out, const char type[4], const std::string& data) {
  put_u32_be(out, static_cast<uint32_t>(data.size()));
  const size_t type_at = out.size();
  out.append(type, 4);
  out += data;
  const auto* bytes = reinterpret_cast<const Bytef*>(out.data() + type_at);
  put_u32_be(out, static_cast<uint32_t>(crc32(0, bytes, static_cast<uInt>(4 + data.size()))));
}

}  // namespace

std::string encode_png_rgb(int width, int height, std::span<const uint8_t> rgb) {
  STRAND_CHECK(width > 0 && height > 0, "PNG: image size {}x{} must be positive", width, height);
  const size_t row = static_cast<size_t>(width) * 3;
  STRAND_CHECK(rgb.size() == row * static_cast<size_t>(height), "PNG: {} bytes for a {}x{} RGB image",
               rgb.size(), width, height);
  // Each row is preceded by its filter type, 0 (none).
  std::vector<uint8_t> raw;
  raw.reserve((row + 1) * static_cast<size_t>(height));
  for (int y = 0; y < height; ++y) {
    raw.push_back(0);
    raw.insert(raw.end(), rgb.begin() + static_cast<ptrdiff_t>(row * static_cast<size_t>(y)),
               rgb.begin() + static_cast<ptrdiff_t>(row * static_cast<size_t>(y + 1)));
  }
  uLongf packed_size = compressBound(static_cast<uLong>(raw.size()));
  std::string packed(packed_size, '\0');
  STRAND_CHECK(compress2(reinterpret_cast<Bytef*>(packed.data()), &packed_size, raw.data(),
                         static_cast<uLong>(raw.size()), Z_BEST_COMPRESSION) == Z_OK,
               "PNG: zlib failed to compress a {}x{} image", width, height);
  packed.resize(packed_size);

  std::string header;
  put_u32_be(header, static_cast<uint32_t>(width));
  put_u32_be(header, static_cast<uint32_t>(height));
  header += std::string{8, 2, 0, 0, 0};  // bit depth 8, colour type RGB, deflate, filter 0, no interlace
  std::string out = "\x89PNG\r\n\x1a\n";
  put_chunk(out, "IHDR", header);
  put_chunk(out, "IDAT", packed);
  put_chunk(out, "IEND", "");
  return out;
}

}  // namespace strand
