// The PNG encoder: a valid file (signature, chunk CRCs, an IDAT that inflates to the filtered rows), and the
// loss plot it writes.
#include "strand/train/png.h"
#include "strand/core/error.h"
#include "strand/train/loss_plot.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>

namespace strand {
namespace {

uint32_t be32(const std::string& s, size_t at) {
  return (uint32_t(uint8_t(s[at])) << 24) | (uint32_t(uint8_t(s[at + 1])) << 16) |
         (uint32_t(uint8_t(s[at + 2])) << 8) | uint32_t(uint8_t(s[at + 3]));
}

struct Chunk {
  std::string type, data;
};

// The chunks of a PNG file, each CRC checked.
std::vector<Chunk> chunks_of(const std::string& png) {
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  std::vector<Chunk> chunks;
  for (size_t at = 8; at + 12 <= png.size();) {
    const uint32_t length = be32(png, at);
    Chunk c{png.substr(at + 4, 4), png.substr(at + 8, length)};
    const auto crc = static_cast<uint32_t>(
        crc32(0, reinterpret_cast<const Bytef*>(png.data() + at + 4), static_cast<uInt>(length + 4)));
    EXPECT_EQ(be32(png, at + 8 + length), crc) << c.type;
    chunks.push_back(std::move(c));
    at += 12 + length;
  }
  return chunks;
}

TEST(Png, ChunksHaveValidCrcsAndTheImageInflatesToFilteredRows) {
  const int w = 3, h = 2;
  std::vector<uint8_t> rgb(w * h * 3);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>(i * 13);
  const std::string png = encode_png_rgb(w, h, rgb);
  const std::vector<Chunk> chunks = chunks_of(png);
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[0].type, "IHDR");
  EXPECT_EQ(be32(chunks[0].data, 0), 3u);
  EXPECT_EQ(be32(chunks[0].data, 4), 2u);
  EXPECT_EQ(chunks[0].data.substr(8), std::string("\x08\x02\x00\x00\x00", 5));
  EXPECT_EQ(chunks[1].type, "IDAT");
  EXPECT_EQ(chunks[2].type, "IEND");
  EXPECT_TRUE(chunks[2].data.empty());

  std::vector<uint8_t> raw(h * (1 + w * 3) + 16);
  uLongf raw_size = raw.size();
  ASSERT_EQ(uncompress(raw.data(), &raw_size, reinterpret_cast<const Bytef*>(chunks[1].data.data()),
                       chunks[1].data.size()),
            Z_OK);
  ASSERT_EQ(raw_size, static_cast<uLongf>(h * (1 + w * 3)));
  for (int y = 0; y < h; ++y) {
    EXPECT_EQ(raw[y * (1 + w * 3)], 0);  // filter: none
    for (int i = 0; i < w * 3; ++i) EXPECT_EQ(raw[y * (1 + w * 3) + 1 + i], rgb[y * w * 3 + i]);
  }
}

TEST(Png, WrongSizesAreRefused) {
  EXPECT_THROW(encode_png_rgb(2, 2, std::vector<uint8_t>(11)), Error);
  EXPECT_THROW(encode_png_rgb(0, 2, {}), Error);
}

TEST(LossPlot, DrawsCurvesAndBaselinesInTheirColours) {
  std::vector<MetricRecord> records;
  for (int step = 10; step <= 100; step += 10)
    records.push_back({step, 1, {{"train/loss", 1.5 - step * 0.001}}});
  records.push_back({50,
                     1,
                     {{"val/ecoli/loss", 1.40},
                      {"val/ecoli/unigram_entropy", 1.386},
                      {"val/ecoli/markov_loss", 1.354},
                      {"val/loss", 1.42}}});
  records.push_back({100, 1, {{"val/ecoli/loss", 1.37}, {"val/loss", 1.41}}});
  const RgbImage image = render_loss_plot(records);
  ASSERT_GT(image.width, 0);
  ASSERT_EQ(image.rgb.size(), size_t(image.width) * image.height * 3);
  // Both validation sets' colours (the palette's first two) appear, and so does the training curve's.
  const auto count = [&](uint8_t r, uint8_t g, uint8_t b) {
    int n = 0;
    for (size_t i = 0; i < image.rgb.size(); i += 3)
      n += image.rgb[i] == r && image.rgb[i + 1] == g && image.rgb[i + 2] == b;
    return n;
  };
  EXPECT_GT(count(31, 119, 180), 100);
  EXPECT_GT(count(214, 39, 40), 50);
  EXPECT_GT(count(30, 30, 30), 100);
  EXPECT_FALSE(encode_png_rgb(image.width, image.height, image.rgb).empty());
}

TEST(LossPlot, WithoutLossesItStillDrawsAxes) {
  const RgbImage image = render_loss_plot({});
  int ink = 0;
  for (const uint8_t v : image.rgb) ink += v != 255;
  EXPECT_GT(ink, 0);
}

}  // namespace
}  // namespace strand
