// PNG files of 8-bit RGB images (colour type 2, no interlace, filter 0 on every row), zlib-compressed: what
// the trainer's loss plot needs, without an image library.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace strand {

// The bytes of a PNG file: signature, IHDR, one IDAT, IEND, each chunk with its CRC-32.
// `rgb` holds height rows of width pixels, 3 bytes each (red, green, blue), top row first.
// REQUIRES: width, height > 0 and rgb.size() == width * height * 3 (else strand::Error).
std::string encode_png_rgb(int width, int height, std::span<const uint8_t> rgb);

}  // namespace strand
