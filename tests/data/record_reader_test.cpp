#include "strand/data/record_reader.h"

#include "strand/core/error.h"
#include "strand/data/byte_source.h"

#include "expect_error.h"
#include "io/file_bytes.h"
#include "temp_dir.h"

#include <gtest/gtest.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <string>
#include <vector>

namespace strand::data {
namespace {

using testing::error_of;

namespace fs = std::filesystem;

const std::string kInputs = std::string(STRAND_TEST_DATA) + "/data/inputs/";

std::vector<SequenceRecord> read_all(const std::string& file, const ReaderOptions& options = {},
                                     uint64_t* skipped = nullptr) {
  auto reader = RecordReader::open(file, options);
  std::vector<SequenceRecord> records;
  SequenceRecord r;
  while (reader->next(r)) records.push_back(r);
  if (skipped != nullptr) *skipped = reader->skipped();
  return records;
}

std::string read_bytes(const std::string& file) {
  auto source = open_byte_source(file);
  std::string out;
  char buffer[777];  // an odd size, so that reads end anywhere
  while (size_t n = source->read(buffer, sizeof(buffer))) out.append(buffer, n);
  return out;
}

std::string gzip(const std::string& data) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, data.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::string zstd(const std::string& data) {
  std::string out(ZSTD_compressBound(data.size()), '\0');
  const size_t n = ZSTD_compress(out.data(), out.size(), data.data(), data.size(), 3);
  EXPECT_FALSE(ZSTD_isError(n));
  out.resize(n);
  return out;
}

std::string xz(const std::string& data) {
  std::string out(lzma_stream_buffer_bound(data.size()), '\0');
  size_t pos = 0;
  EXPECT_EQ(
      lzma_easy_buffer_encode(1, LZMA_CHECK_CRC64, nullptr, reinterpret_cast<const uint8_t*>(data.data()),
                              data.size(), reinterpret_cast<uint8_t*>(out.data()), &pos, out.size()),
      LZMA_OK);
  out.resize(pos);
  return out;
}

class RecordReaderTest : public testing::TempDirTest {
 protected:
  std::string write(const std::string& name, const std::string& bytes) const {
    std::ofstream out(path(name), std::ios::binary | std::ios::trunc);
    out << bytes;
    return path(name);
  }
  // The message of reading all of `bytes` written as `name`, which must fail.
  std::string read_error(const std::string& name, const std::string& bytes,
                         const ReaderOptions& options = {}) {
    const std::string file = write(name, bytes);
    return error_of([&] { read_all(file, options); });
  }
};

void expect_sample_records(const std::vector<SequenceRecord>& r) {
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].id, "seq1");
  EXPECT_EQ(r[0].description, "first record, two lines");
  EXPECT_EQ(r[0].sequence, "ACGTACGTACGTacgtNNRY");
  EXPECT_EQ(r[0].line, 1u);
  EXPECT_EQ(r[1].id, "seq2");
  EXPECT_EQ(r[1].description, "");
  EXPECT_EQ(r[1].sequence, "TTTTGGGGCCCCAAAAACGU-*");
  EXPECT_EQ(r[1].line, 5u);
  EXPECT_EQ(r[2].id, "seq3");
  EXPECT_EQ(r[2].description, "last record");
  EXPECT_EQ(r[2].sequence, "acgtn");
  EXPECT_EQ(r[2].line, 9u);
}

TEST_F(RecordReaderTest, FastaMultiLineWithBlankAndCommentLines) {
  auto reader = RecordReader::open(kInputs + "sample.fa");
  EXPECT_EQ(reader->format(), RecordFormat::Fasta);
  expect_sample_records(read_all(kInputs + "sample.fa"));
}

TEST_F(RecordReaderTest, FastaCrlfAndNoTrailingNewline) {
  const auto r = read_all(write("crlf.fa", ">a x y\r\nAC\r\nGT \r\n>b\r\n\r\nTT"));
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].id, "a");
  EXPECT_EQ(r[0].description, "x y");
  EXPECT_EQ(r[0].sequence, "ACGT");
  EXPECT_EQ(r[1].id, "b");
  EXPECT_EQ(r[1].sequence, "TT");
  EXPECT_EQ(r[1].line, 4u);
}

TEST_F(RecordReaderTest, FastaRecordWithoutSequenceIsEmpty) {
  const auto r = read_all(write("empty.fa", ">a\n>b\nAC\n>c"));
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].sequence, "");
  EXPECT_EQ(r[1].sequence, "AC");
  EXPECT_EQ(r[2].sequence, "");
  EXPECT_TRUE(read_all(write("blank.fa", "")).empty());
  EXPECT_TRUE(read_all(write("blank.txt", "\n\n")).empty());
}

TEST_F(RecordReaderTest, CompressedInputsProduceIdenticalRecords) {
  const std::string plain = io::read_text(kInputs + "sample.fa");
  const std::pair<const char*, Compression> cases[] = {
      {"sample.fa", Compression::None},
      {"sample.fa.gz", Compression::Gzip},
      {"sample.fa.zst", Compression::Zstd},
      {"sample.fa.xz", Compression::Xz},
      {"sample_multimember.fa.gz", Compression::Gzip},
      {"sample_multiframe.fa.zst", Compression::Zstd},
      {"sample_multistream.fa.xz", Compression::Xz},
  };
  for (const auto& [name, compression] : cases) {
    SCOPED_TRACE(name);
    EXPECT_EQ(open_byte_source(kInputs + name)->compression(), compression);
    EXPECT_EQ(read_bytes(kInputs + name), plain);
    expect_sample_records(read_all(kInputs + name));
  }
}

TEST_F(RecordReaderTest, CompressionComesFromTheBytesNotTheName) {
  fs::copy_file(kInputs + "sample.fa.zst", path("looks_plain.fa"));
  expect_sample_records(read_all(path("looks_plain.fa")));
  fs::copy_file(kInputs + "sample.fa", path("looks_gzipped.fa.gz"));
  expect_sample_records(read_all(path("looks_gzipped.fa.gz")));
}

// Streams far larger than every internal buffer, with one line longer than the initial line buffer.
TEST_F(RecordReaderTest, LargeCompressedStreams) {
  std::mt19937 rng(7);
  std::string fasta;
  std::vector<std::string> expected;
  for (int r = 0; r < 40; ++r) {
    fasta += ">r" + std::to_string(r) + "\n";
    std::string seq;
    const size_t length = r == 3 ? 2'500'000 : 1 + rng() % 40'000;
    for (size_t i = 0; i < length; ++i) seq += "ACGT"[rng() % 4];
    const size_t width = r == 3 ? length : 60;
    for (size_t i = 0; i < seq.size(); i += width) fasta += seq.substr(i, width) + (r % 2 ? "\r\n" : "\n");
    expected.push_back(seq);
  }
  const std::pair<std::string, std::string> files[] = {
      {"big.fa", fasta}, {"big.fa.gz", gzip(fasta)}, {"big.fa.zst", zstd(fasta)}, {"big.fa.xz", xz(fasta)}};
  for (const auto& [name, bytes] : files) {
    SCOPED_TRACE(name);
    const auto records = read_all(write(name, bytes));
    ASSERT_EQ(records.size(), expected.size());
    for (size_t r = 0; r < records.size(); ++r) EXPECT_EQ(records[r].sequence, expected[r]) << r;
  }
  ReaderOptions small;
  small.max_line_bytes = 1 << 21;
  EXPECT_CONTAINS(error_of([&] { read_all(path("big.fa.gz"), small); }), "line longer than 2097152 bytes");
}

TEST_F(RecordReaderTest, Fastq) {
  const auto r =
      read_all(write("reads.fq", "@r1 lane 1\nACGT\n+\nIIII\n\n@r2\r\nacN.\r\n+r2\r\n!#~5\r\n@r3\n\n+\n\n"));
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].id, "r1");
  EXPECT_EQ(r[0].description, "lane 1");
  EXPECT_EQ(r[0].sequence, "ACGT");
  EXPECT_EQ(r[0].line, 1u);
  EXPECT_EQ(r[1].id, "r2");
  EXPECT_EQ(r[1].sequence, "acN.");
  EXPECT_EQ(r[1].line, 6u);
  EXPECT_EQ(r[2].sequence, "");
  EXPECT_EQ(RecordReader::open(path("reads.fq"))->format(), RecordFormat::Fastq);
}

TEST_F(RecordReaderTest, JsonlWithFieldAndId) {
  const std::string file = write("docs.jsonl",
                                 "{\"id\": \"x\", \"text\": \"ACGT\", \"seq\": \"GG\"}\n"
                                 "\n"
                                 "{\"text\": \"|d__B;|ac\", \"id\": 7, \"seq\": \"TT\"}\r\n"
                                 "  {\"text\": \"\", \"seq\": \"CC\"}  ");
  auto r = read_all(file);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].id, "x");
  EXPECT_EQ(r[0].sequence, "ACGT");
  EXPECT_EQ(r[0].line, 1u);
  EXPECT_EQ(r[1].id, "7");
  EXPECT_EQ(r[1].sequence, "|d__B;|ac");
  EXPECT_EQ(r[1].line, 3u);
  EXPECT_EQ(r[2].id, "4");  // no id field: the line number
  EXPECT_EQ(r[2].sequence, "");
  ReaderOptions o;
  o.jsonl_field = "seq";
  r = read_all(file, o);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].sequence + r[1].sequence + r[2].sequence, "GGTTCC");
}

TEST_F(RecordReaderTest, FormatFromContentOrOption) {
  EXPECT_EQ(RecordReader::open(write("a.txt", "\n  >x\nAC\n"))->format(), RecordFormat::Fasta);
  EXPECT_EQ(RecordReader::open(write("b.txt", "@x\nAC\n+\nII\n"))->format(), RecordFormat::Fastq);
  EXPECT_EQ(RecordReader::open(write("c.txt", "{\"text\": \"A\"}\n"))->format(), RecordFormat::Jsonl);
  ReaderOptions o;
  o.format = RecordFormat::Fastq;
  EXPECT_EQ(RecordReader::open(path("a.txt"), o)->format(), RecordFormat::Fastq);
  const std::string message = error_of([&] { RecordReader::open(write("d.txt", "\nhello\n")); });
  EXPECT_CONTAINS(message, path("d.txt") + ":2: cannot tell the format");
  EXPECT_EQ(record_format_from_name("fastq"), RecordFormat::Fastq);
  EXPECT_THROW(record_format_from_name("bam"), Error);
}

TEST_F(RecordReaderTest, FastaWithoutHeader) {
  EXPECT_CONTAINS(read_error("x.fa", "ACGT\n>a\nAC\n"),
                  path("x.fa") + ":1: expected '>' at the start of a FASTA record, got 'A'");
  EXPECT_CONTAINS(read_error("y.fa", "\n\nNNN\n"), path("y.fa") + ":3: expected '>'");
}

TEST_F(RecordReaderTest, BinaryGarbageInASequence) {
  EXPECT_CONTAINS(read_error("x.fa", std::string(">a\nACGT\nAC\x00\x01\x02GT\n", 15)),
                  path("x.fa") + ":3: invalid character \\x00 in the sequence of record 'a'");
  EXPECT_CONTAINS(read_error("y.fa", ">a\nAC\n>b\nAC\xc3\xa9\n"),
                  path("y.fa") + ":4: invalid character \\xc3");
  EXPECT_CONTAINS(read_error("z.fa", ">a\nAC GT\n"), path("z.fa") + ":2: invalid character \\x20");
  EXPECT_CONTAINS(read_error("w.fa", ">a\nACG1\n"), path("w.fa") + ":2: invalid character '1' (\\x31)");
  EXPECT_CONTAINS(read_error("h.fa", std::string(">a\x01\x02\nAC\n", 8)),
                  path("h.fa") + ":1: control byte \\x01");
  // Random bytes after a header.
  std::string garbage = ">a\n";
  std::mt19937 rng(3);
  for (int i = 0; i < 4096; ++i) garbage += static_cast<char>(rng());
  EXPECT_CONTAINS(read_error("g.fa", garbage), path("g.fa") + ":");
  EXPECT_CONTAINS(read_error("g.fa", garbage), "invalid character");
}

TEST_F(RecordReaderTest, BrokenJsonl) {
  EXPECT_CONTAINS(read_error("x.jsonl", "{\"text\": \"AC\"}\n{\"text\": \"AC\"\n"),
                  path("x.jsonl") + ":2: invalid JSON");
  EXPECT_CONTAINS(read_error("y.jsonl", "{\"text\": \"AC\"}\n\n{\"id\": 1}\n"),
                  path("y.jsonl") + ":3: field 'text' is missing");
  EXPECT_CONTAINS(read_error("z.jsonl", "{\"text\": 5}\n"),
                  path("z.jsonl") + ":1: field 'text' is a number, not a string");
  EXPECT_CONTAINS(read_error("a.jsonl", "{\"text\": [\"A\"]}\n"),
                  path("a.jsonl") + ":1: field 'text' is an array");
  EXPECT_CONTAINS(read_error("b.jsonl", "[1, 2]\n"),
                  path("b.jsonl") + ":1: expected a JSON object, got an array");
  EXPECT_CONTAINS(read_error("c.jsonl", "{\"text\": \"A\", \"text\": \"C\"}\n"),
                  path("c.jsonl") + ":1: duplicate key 'text'");
  // A broken line of a megabyte gives a message of bounded length.
  const std::string long_message = read_error("d.jsonl", "{\"text\": \"" + std::string(1 << 20, 'A'));
  EXPECT_CONTAINS(long_message, path("d.jsonl") + ":1: ");
  EXPECT_LT(long_message.size(), 400u);
}

TEST_F(RecordReaderTest, FastqErrors) {
  EXPECT_CONTAINS(read_error("x.fq", "@r\nACGT\n+\nIII\n"),
                  path("x.fq") + ":4: record 'r' has 3 quality values for 4 residues");
  EXPECT_CONTAINS(read_error("y.fq", "@r\nACGT\n+\n"), path("y.fq") + ":3: truncated FASTQ record 'r'");
  EXPECT_CONTAINS(read_error("z.fq", "@r\nACGT\n-\nIIII\n"), path("z.fq") + ":3: expected the '+' separator");
  EXPECT_CONTAINS(read_error("w.fq", "ACGT\n"), path("w.fq") + ":1: expected '@'");
  EXPECT_CONTAINS(read_error("v.fq", "@r\nAC\n+\nI I\n"),
                  path("v.fq") + ":4: record 'r' has 3 quality values");
  EXPECT_CONTAINS(read_error("u.fq", "@r\nAC\n+\nI\x01\n"),
                  path("u.fq") + ":4: invalid quality character \\x01");
  EXPECT_CONTAINS(read_error("t.fq", "@r\nA1\n+\nII\n"), path("t.fq") + ":2: invalid character '1'");
  EXPECT_CONTAINS(read_error("s.fq", "@r\nAC\n+q\nII\n"),
                  path("s.fq") + ":3: the '+' line of record 'r' names another");
}

TEST_F(RecordReaderTest, TruncatedOrCorruptCompressedStreams) {
  const std::string gz = io::read_text(kInputs + "sample.fa.gz");
  const std::string zst = io::read_text(kInputs + "sample.fa.zst");
  const std::string xzb = io::read_text(kInputs + "sample.fa.xz");
  const std::regex truncated_gz(".*/cut.fa.gz:[0-9]+: truncated gzip stream.*");
  for (const size_t keep : {gz.size() - 4, gz.size() - 9, gz.size() / 2, size_t{2}}) {
    SCOPED_TRACE(keep);
    const std::string message = read_error("cut.fa.gz", gz.substr(0, keep));
    EXPECT_TRUE(std::regex_match(message, truncated_gz)) << message;
  }
  EXPECT_TRUE(std::regex_match(read_error("cut.fa.zst", zst.substr(0, zst.size() - 5)),
                               std::regex(".*/cut.fa.zst:[0-9]+: truncated zstd stream.*")));
  EXPECT_TRUE(std::regex_match(read_error("cut.fa.xz", xzb.substr(0, xzb.size() - 5)),
                               std::regex(".*/cut.fa.xz:[0-9]+: truncated xz stream.*")));
  std::string corrupt = gz;
  corrupt[corrupt.size() - 6] ^= 0x55;  // the CRC-32 trailer
  EXPECT_CONTAINS(read_error("bad.fa.gz", corrupt), path("bad.fa.gz") + ":");
  EXPECT_CONTAINS(read_error("bad.fa.gz", corrupt), "corrupt gzip data");
  EXPECT_CONTAINS(read_error("tail.fa.gz", gz + "garbage"), "corrupt gzip data in member 2");
  std::string corrupt_xz = xzb;
  corrupt_xz[corrupt_xz.size() / 2] ^= 0x55;
  EXPECT_CONTAINS(read_error("bad.fa.xz", corrupt_xz), "corrupt xz data");
  // Skipping malformed records never hides a broken stream.
  ReaderOptions skip;
  skip.skip_malformed = true;
  EXPECT_CONTAINS(read_error("cut2.fa.gz", gz.substr(0, gz.size() / 2), skip), "truncated gzip stream");
}

TEST_F(RecordReaderTest, UnsupportedOrMissingFiles) {
  EXPECT_CONTAINS(read_error("x.fa.bz2", "BZh91AY&SY"), "bzip2 compression is not supported");
  EXPECT_CONTAINS(error_of([&] { RecordReader::open(path("absent.fa")); }),
                  path("absent.fa") + ": cannot open");
}

TEST_F(RecordReaderTest, SkipMalformedCountsSkippedRecords) {
  ReaderOptions skip;
  skip.skip_malformed = true;
  uint64_t skipped = 0;
  auto r =
      read_all(write("x.fa", "junk\nmore junk\n>a\nAC\n>b\nA1C\nGG\n>c\nGG\n>d\nA\x01\n"), skip, &skipped);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].id, "a");
  EXPECT_EQ(r[0].sequence, "AC");
  EXPECT_EQ(r[1].id, "c");
  EXPECT_EQ(r[1].sequence, "GG");
  EXPECT_EQ(skipped, 3u);

  r = read_all(write("x.fq", "@a\nAC\n+\nII\n@b\nACG\n+\nII\n@c\nTT\n+\nII\n@d\nTT\n"), skip, &skipped);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].id, "a");
  EXPECT_EQ(r[1].id, "c");
  EXPECT_EQ(skipped, 2u);

  r = read_all(
      write("x.jsonl", "{\"text\": \"A\"}\nnot json\n{\"id\": 3}\n{\"text\": 1}\n{\"text\": \"C\"}\n"), skip,
      &skipped);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].sequence + r[1].sequence, "AC");
  EXPECT_EQ(skipped, 3u);
}

}  // namespace
}  // namespace strand::data
