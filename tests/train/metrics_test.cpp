#include "strand/train/metrics.h"

#include "strand/core/error.h"

#include "temp_dir.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <random>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace strand {
namespace {

std::string hex_to_bytes(std::string hex) {
  std::erase(hex, ' ');
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

std::string bytes_to_hex(std::string_view bytes) {
  std::string out;
  char buf[3];
  for (const unsigned char c : bytes) {
    std::snprintf(buf, sizeof buf, "%02x", c);
    out += buf;
  }
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// ---------------------------------------------------------------------------------------------------------
// An independent reader of TensorBoard event files: record framing with CRC checks, and just enough protobuf
// decoding for the Event fields the sink writes. Malformed input throws std::runtime_error.

uint64_t le(std::string_view bytes) {
  uint64_t v = 0;
  for (size_t i = bytes.size(); i-- > 0;) v = (v << 8) | static_cast<unsigned char>(bytes[i]);
  return v;
}

// The data of every record in an event file, each checked against both of its CRCs.
std::vector<std::string> read_records(const std::string& file) {
  std::vector<std::string> records;
  size_t pos = 0;
  while (pos < file.size()) {
    if (file.size() - pos < 12) throw std::runtime_error("truncated record header at " + std::to_string(pos));
    const std::string_view header(file.data() + pos, 8);
    const uint64_t length = le(header);
    if (le(std::string_view(file.data() + pos + 8, 4)) != masked_crc32c(header.data(), 8)) {
      throw std::runtime_error("length CRC mismatch at " + std::to_string(pos));
    }
    pos += 12;
    if (file.size() - pos < length + 4)
      throw std::runtime_error("truncated record at " + std::to_string(pos));
    const std::string data = file.substr(pos, length);
    if (le(std::string_view(file.data() + pos + length, 4)) != masked_crc32c(data.data(), data.size())) {
      throw std::runtime_error("data CRC mismatch at " + std::to_string(pos));
    }
    pos += length + 4;
    records.push_back(data);
  }
  return records;
}

struct ProtoField {
  uint32_t number = 0;
  uint32_t wire_type = 0;
  uint64_t scalar = 0;     // varint, fixed64 or fixed32 bits
  std::string_view bytes;  // length-delimited payload
};

uint64_t read_varint(std::string_view msg, size_t& pos) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (pos >= msg.size()) throw std::runtime_error("truncated varint");
    const auto b = static_cast<unsigned char>(msg[pos++]);
    v |= uint64_t{b & 0x7Fu} << shift;
    if (!(b & 0x80)) return v;
  }
  throw std::runtime_error("varint longer than 10 bytes");
}

std::vector<ProtoField> parse_message(std::string_view msg) {
  std::vector<ProtoField> fields;
  size_t pos = 0;
  while (pos < msg.size()) {
    const uint64_t key = read_varint(msg, pos);
    ProtoField f;
    f.number = static_cast<uint32_t>(key >> 3);
    f.wire_type = static_cast<uint32_t>(key & 7);
    switch (f.wire_type) {
      case 0:
        f.scalar = read_varint(msg, pos);
        break;
      case 1:
      case 5: {
        const size_t n = f.wire_type == 1 ? 8 : 4;
        if (msg.size() - pos < n) throw std::runtime_error("truncated fixed field");
        f.scalar = le(msg.substr(pos, n));
        pos += n;
        break;
      }
      case 2: {
        const uint64_t n = read_varint(msg, pos);
        if (msg.size() - pos < n) throw std::runtime_error("truncated length-delimited field");
        f.bytes = msg.substr(pos, n);
        pos += n;
        break;
      }
      default:
        throw std::runtime_error("unexpected wire type " + std::to_string(f.wire_type));
    }
    fields.push_back(f);
  }
  return fields;
}

void expect_wire_type(const ProtoField& f, uint32_t wire_type) {
  if (f.wire_type != wire_type) {
    throw std::runtime_error("field " + std::to_string(f.number) + " has wire type " +
                             std::to_string(f.wire_type));
  }
}

struct DecodedEvent {
  double wall_time = 0;
  int64_t step = 0;
  std::string file_version;
  bool has_summary = false;
  std::vector<std::pair<std::string, float>> values;
};

DecodedEvent decode_event(std::string_view data) {
  DecodedEvent e;
  for (const ProtoField& f : parse_message(data)) {
    if (f.number == 1) {
      expect_wire_type(f, 1);
      std::memcpy(&e.wall_time, &f.scalar, 8);
    } else if (f.number == 2) {
      expect_wire_type(f, 0);
      e.step = static_cast<int64_t>(f.scalar);
    } else if (f.number == 3) {
      expect_wire_type(f, 2);
      e.file_version = std::string(f.bytes);
    } else if (f.number == 5) {
      expect_wire_type(f, 2);
      e.has_summary = true;
      for (const ProtoField& v : parse_message(f.bytes)) {
        expect_wire_type(v, 2);
        if (v.number != 1) throw std::runtime_error("unexpected Summary field");
        std::pair<std::string, float> value;
        for (const ProtoField& vf : parse_message(v.bytes)) {
          if (vf.number == 1) {
            expect_wire_type(vf, 2);
            value.first = std::string(vf.bytes);
          } else if (vf.number == 2) {
            expect_wire_type(vf, 5);
            const auto bits = static_cast<uint32_t>(vf.scalar);
            std::memcpy(&value.second, &bits, 4);
          } else {
            throw std::runtime_error("unexpected Summary.Value field");
          }
        }
        e.values.push_back(value);
      }
    } else {
      throw std::runtime_error("unexpected Event field " + std::to_string(f.number));
    }
  }
  return e;
}

// The one event file in `dir`.
std::string only_event_file(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) names.push_back(entry.path().string());
  if (names.size() != 1) throw std::runtime_error("expected one file in " + dir.string());
  return names[0];
}

// ---------------------------------------------------------------------------------------------------------
// CRC-32C

// The bitwise definition: reflected CRC-32 with polynomial 0x82F63B78, initial value and final xor ~0.
uint32_t crc32c_bitwise(std::string_view bytes) {
  uint32_t c = 0xFFFFFFFFu;
  for (const unsigned char b : bytes) {
    c ^= b;
    for (int i = 0; i < 8; ++i) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
  }
  return ~c;
}

TEST(Crc32cTest, KnownVectors) {
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  const std::string zeros(32, '\0');
  const std::string ones(32, '\xFF');
  EXPECT_EQ(crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
  EXPECT_EQ(crc32c(ones.data(), ones.size()), 0x62A8AB43u);
  EXPECT_EQ(crc32c("", 0), 0u);
}

TEST(Crc32cTest, MatchesTheBitwiseDefinitionAndExtends) {
  std::mt19937 rng(7);
  for (size_t n : {1u, 2u, 3u, 7u, 8u, 15u, 16u, 63u, 255u, 256u, 1000u}) {
    std::string bytes(n, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    const uint32_t whole = crc32c(bytes.data(), n);
    EXPECT_EQ(whole, crc32c_bitwise(bytes)) << n;
    const size_t split = n / 3;
    EXPECT_EQ(crc32c_extend(crc32c(bytes.data(), split), bytes.data() + split, n - split), whole) << n;
    EXPECT_EQ(crc32c_extend(0, bytes.data(), n), whole) << n;
  }
}

TEST(Crc32cTest, MaskRotatesAndAddsTheConstant) {
  // c = 0xE3069283: (c >> 15) | (c << 17) = 0x0001C60D | 0x25060000 = 0x2507C60D; + 0xa282ead8 = 0xC78AB0E5.
  EXPECT_EQ(masked_crc32c("123456789", 9), 0xC78AB0E5u);
  // The addition wraps around in 32 bits: crc32c(32 zero bytes) = 0x8A9136AA rotates to 0x6D551522, and
  // 0x6D551522 + 0xa282ead8 = 0x10FD7FFFA.
  const std::string zeros(32, '\0');
  EXPECT_EQ(masked_crc32c(zeros.data(), zeros.size()), 0x0FD7FFFAu);
}

// ---------------------------------------------------------------------------------------------------------
// Event encoding

TEST(TensorBoardEncodingTest, ScalarEventMatchesTheFormatsExampleByteForByte) {
  MetricRecord r;
  r.step = 10;
  r.wall_time = 1.7e9;
  r.scalars["loss"] = 1.5;
  EXPECT_EQ(bytes_to_hex(tensorboard::scalar_event(r)),
            "0900000040fc54d941100a2a0d0a0b0a046c6f7373150000c03f");
}

TEST(TensorBoardEncodingTest, FileVersionEventBytes) {
  // 09 <1.7e9 as LE double> 1a 0d "brain.Event:2"
  EXPECT_EQ(tensorboard::file_version_event(1.7e9),
            hex_to_bytes("0900000040fc54d941 1a0d") + std::string("brain.Event:2"));
}

TEST(TensorBoardEncodingTest, SeveralValuesNegativeAndZeroSteps) {
  MetricRecord r;
  r.wall_time = 2.5;
  r.step = -1;
  r.scalars = {{"b", -2.0}, {"a", 0.0}, {"huge", 1e300}};
  DecodedEvent e = decode_event(tensorboard::scalar_event(r));
  EXPECT_EQ(e.wall_time, 2.5);
  EXPECT_EQ(e.step, -1);
  ASSERT_EQ(e.values.size(), 3u);
  EXPECT_EQ(e.values[0], (std::pair<std::string, float>{"a", 0.0f}));  // a oneof member: written although 0
  EXPECT_EQ(e.values[1], (std::pair<std::string, float>{"b", -2.0f}));
  EXPECT_EQ(e.values[2], (std::pair<std::string, float>{"huge", std::numeric_limits<float>::infinity()}));
  // A negative int64 is a 10-byte varint: key 0x10, then ff ff ff ff ff ff ff ff ff 01.
  EXPECT_NE(tensorboard::scalar_event(r).find(hex_to_bytes("10ffffffffffffffffff01")), std::string::npos);

  // Step 0 is protobuf's default and is left out, as protobuf's serializer does; readers see 0.
  r.step = 0;
  const std::string zero = tensorboard::scalar_event(r);
  for (const ProtoField& f : parse_message(zero)) EXPECT_NE(f.number, 2u);
  EXPECT_EQ(decode_event(zero).step, 0);
}

TEST(TensorBoardEncodingTest, FrameRecordLayout) {
  const std::string data = "payload";
  const std::string framed = tensorboard::frame_record(data);
  ASSERT_EQ(framed.size(), 8 + 4 + data.size() + 4);
  EXPECT_EQ(framed.substr(0, 8), hex_to_bytes("0700000000000000"));
  EXPECT_EQ(le(std::string_view(framed).substr(8, 4)), masked_crc32c(framed.data(), 8));
  EXPECT_EQ(framed.substr(12, data.size()), data);
  EXPECT_EQ(le(std::string_view(framed).substr(12 + data.size(), 4)),
            masked_crc32c(data.data(), data.size()));
  EXPECT_EQ(read_records(framed), std::vector<std::string>{data});
}

// ---------------------------------------------------------------------------------------------------------
// The TensorBoard sink

class TensorBoardSinkTest : public testing::TempDirTest {};

TEST_F(TensorBoardSinkTest, WritesAFileThatReadsBackWithValidCrcs) {
  const auto dir = dir_ / "runs" / "tb";  // missing: the sink creates it
  const double before = static_cast<double>(std::time(nullptr));
  {
    auto sink = make_tensorboard_sink(dir.string());
    sink->write({.step = 1, .wall_time = 1.7e9, .scalars = {{"train/loss", 2.25}, {"train/lr", 3e-4}}});
    sink->write({.step = 2, .wall_time = 1.7e9 + 1, .scalars = {}});  // nothing to write
    sink->write({.step = 2, .wall_time = 1.7e9 + 2, .scalars = {{"train/loss", 2.0}}});
    // Flushed per record: the file is complete before the sink is closed.
    const std::vector<std::string> records = read_records(read_file(only_event_file(dir)));
    EXPECT_EQ(records.size(), 3u);
    sink->write({.step = 3, .wall_time = 1.7e9 + 3, .scalars = {{"val/loss", 1.75}}});
  }
  const std::vector<std::string> records = read_records(read_file(only_event_file(dir)));
  ASSERT_EQ(records.size(), 4u);

  const DecodedEvent first = decode_event(records[0]);
  EXPECT_EQ(first.file_version, "brain.Event:2");
  EXPECT_FALSE(first.has_summary);
  EXPECT_GE(first.wall_time, before);
  EXPECT_LT(first.wall_time, before + 3600);

  const DecodedEvent e1 = decode_event(records[1]);
  EXPECT_EQ(e1.step, 1);
  EXPECT_EQ(e1.wall_time, 1.7e9);
  EXPECT_EQ(e1.values, (std::vector<std::pair<std::string, float>>{{"train/loss", 2.25f},
                                                                   {"train/lr", static_cast<float>(3e-4)}}));
  const DecodedEvent e2 = decode_event(records[2]);
  EXPECT_EQ(e2.step, 2);
  EXPECT_EQ(e2.wall_time, 1.7e9 + 2);
  EXPECT_EQ(e2.values, (std::vector<std::pair<std::string, float>>{{"train/loss", 2.0f}}));
  const DecodedEvent e3 = decode_event(records[3]);
  EXPECT_EQ(e3.step, 3);
  EXPECT_EQ(e3.values, (std::vector<std::pair<std::string, float>>{{"val/loss", 1.75f}}));
}

TEST_F(TensorBoardSinkTest, TheReaderRejectsACorruptedFile) {
  { make_tensorboard_sink(dir_.string())->write({.step = 5, .wall_time = 1.0, .scalars = {{"x", 1.0}}}); }
  const std::string file = read_file(only_event_file(dir_));
  ASSERT_EQ(read_records(file).size(), 2u);
  for (const size_t at : {size_t{3}, size_t{20}, file.size() - 6}) {  // length, first data, last data
    std::string bad = file;
    bad[at] ^= 0x01;
    EXPECT_THROW(read_records(bad), std::runtime_error) << at;
  }
  EXPECT_THROW(read_records(file.substr(0, file.size() - 1)), std::runtime_error);
}

TEST_F(TensorBoardSinkTest, FileNamesFollowTheTensorFlowPatternAndAreUnique) {
  auto a = make_tensorboard_sink(dir_.string());
  auto b = make_tensorboard_sink(dir_.string());
  const std::set<std::string> names = files();
  ASSERT_EQ(names.size(), 2u);
  char host[256] = {};
  ASSERT_EQ(::gethostname(host, sizeof host - 1), 0);
  const std::regex pattern(R"(events\.out\.tfevents\.(\d{10})\.(.+)\.(\d+)\.(\d+))");
  const long long now = static_cast<long long>(std::time(nullptr));
  std::set<std::string> counters;
  for (const std::string& name : names) {
    std::smatch m;
    ASSERT_TRUE(std::regex_match(name, m, pattern)) << name;
    EXPECT_LE(std::abs(std::stoll(m[1]) - now), 60) << name;
    EXPECT_EQ(m[2], std::string(host)) << name;
    EXPECT_EQ(std::stoll(m[3]), static_cast<long long>(::getpid())) << name;
    counters.insert(m[4]);
  }
  EXPECT_EQ(counters.size(), 2u);
}

TEST_F(TensorBoardSinkTest, AnUnusableDirectoryIsAnErrorNamingIt) {
  const std::string blocker = path("not_a_dir");
  std::ofstream(blocker) << "x";
  for (const std::string& dir : {blocker, blocker + "/sub"}) {
    try {
      make_tensorboard_sink(dir);
      ADD_FAILURE() << "no error for " << dir;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(dir), std::string::npos) << e.what();
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// The JSONL sink

class JsonlSinkTest : public testing::TempDirTest {};

std::vector<nlohmann::json> read_jsonl(const std::string& file) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(read_file(file));
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

TEST_F(JsonlSinkTest, OneObjectPerLineNonFiniteAsNullAndAppendsAcrossSinks) {
  const std::string file = path("logs/metrics.jsonl");  // the parent is created
  {
    auto sink = make_jsonl_sink(file);
    sink->write({.step = 10, .wall_time = 1.7e9, .scalars = {{"train/loss", 1.5}, {"train/lr", 3e-4}}});
    sink->write({.step = 11,
                 .wall_time = 1.7e9 + 0.25,
                 .scalars = {{"train/loss", std::nan("")},
                             {"train/grad_norm", std::numeric_limits<double>::infinity()}}});
    EXPECT_EQ(read_jsonl(file).size(), 2u);  // flushed per record
  }
  make_jsonl_sink(file)->write({.step = 20, .wall_time = 1.7e9 + 5, .scalars = {{"val/loss", 1.25}}});

  const std::string text = read_file(file);
  EXPECT_EQ(text.substr(0, text.find('\n')),
            R"({"step":10,"time":1700000000.0,"train/loss":1.5,"train/lr":0.0003})");
  const std::vector<nlohmann::json> lines = read_jsonl(file);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["step"], 10);
  EXPECT_EQ(lines[0]["train/loss"].get<double>(), 1.5);
  EXPECT_EQ(lines[0]["train/lr"].get<double>(), 3e-4);
  EXPECT_EQ(lines[1]["step"], 11);
  EXPECT_EQ(lines[1]["time"].get<double>(), 1.7e9 + 0.25);
  EXPECT_TRUE(lines[1]["train/loss"].is_null());
  EXPECT_TRUE(lines[1]["train/grad_norm"].is_null());
  EXPECT_EQ(lines[2]["step"], 20);
  EXPECT_EQ(lines[2]["val/loss"].get<double>(), 1.25);
  EXPECT_EQ(lines[2].size(), 3u);
}

TEST_F(JsonlSinkTest, ALineCutShortByAKilledRunIsEndedBeforeAppending) {
  const std::string file = path("metrics.jsonl");
  std::ofstream(file) << R"({"step":1,"time":1.0,"train/loss":2.0})"
                      << "\n"
                      << R"({"step":2,"ti)";
  make_jsonl_sink(file)->write({.step = 3, .wall_time = 3.0, .scalars = {{"train/loss", 1.0}}});
  std::istringstream in(read_file(file));
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[1], R"({"step":2,"ti)");
  EXPECT_EQ(nlohmann::json::parse(lines[2])["step"], 3);
}

TEST_F(JsonlSinkTest, ReservedNamesAndUnwritablePathsAreErrors) {
  auto sink = make_jsonl_sink(path("m.jsonl"));
  EXPECT_THROW(sink->write({.step = 1, .wall_time = 1.0, .scalars = {{"step", 1.0}}}), Error);
  EXPECT_THROW(sink->write({.step = 1, .wall_time = 1.0, .scalars = {{"time", 1.0}}}), Error);
  try {
    make_jsonl_sink(dir_.string());  // a directory
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir_.string()), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------------------------------------------------
// The console sink

// Everything written to a temporary FILE*.
class Captured {
 public:
  Captured() : file_(std::tmpfile()) {}
  ~Captured() { std::fclose(file_); }
  Captured(const Captured&) = delete;
  Captured& operator=(const Captured&) = delete;
  std::FILE* file() const { return file_; }
  std::string text() const {
    std::fflush(file_);
    std::rewind(file_);
    std::string out;
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, file_)) > 0;) out.append(buf, n);
    return out;
  }

 private:
  std::FILE* file_;
};

MetricRecord training_record(int64_t step, double wall_time) {
  return {.step = step,
          .wall_time = wall_time,
          .scalars = {{"train/loss", 1.23454},
                      {"train/lr", 3e-4},
                      {"train/grad_norm", 0.8531},
                      {"train/tokens_per_s", 12345.4},
                      {"train/step_time_s", 0.4123},
                      {"train/zeta", 2.5},
                      {"aux/alpha", 0.125}}};
}

MetricRecord val_record(int64_t step, double wall_time) {
  return {.step = step,
          .wall_time = wall_time,
          .scalars = {{"val/bits_per_base", 1.58701}, {"val/loss", 1.1}, {"val/ppl", 3.00417}}};
}

TEST(ConsoleSinkTest, PlainLinesWhenNotATerminal) {
  Captured out;
  {
    auto sink = make_console_sink(1000, /*is_terminal=*/false, out.file());
    sink->write(training_record(100, 1000.0));
    sink->write(training_record(120, 1010.0));  // 20 steps in 10 s: 880 steps left take 440 s
    sink->write(val_record(120, 1011.0));
  }
  EXPECT_EQ(
      out.text(),
      "step 100/1000 loss 1.2345 lr 3.0e-04 grad_norm 0.853 tokens/s 12345 step_time 0.412s aux/alpha 0.125 "
      "zeta 2.5\n"
      "step 120/1000 loss 1.2345 lr 3.0e-04 grad_norm 0.853 tokens/s 12345 step_time 0.412s aux/alpha 0.125 "
      "zeta 2.5 eta 7m20s\n"
      "step 120/1000 val/loss 1.1000 val/ppl 3.004 val/bits_per_base 1.5870\n");
}

TEST(ConsoleSinkTest, ProgressLineRewrittenInPlaceOnATerminal) {
  Captured out;
  {
    auto sink = make_console_sink(1000, /*is_terminal=*/true, out.file());
    sink->write(
        {.step = 100, .wall_time = 1000.0, .scalars = {{"train/loss", 2.0}, {"train/tokens_per_s", 999960}}});
    sink->write(
        {.step = 120, .wall_time = 1010.0, .scalars = {{"train/loss", 1.5}, {"train/tokens_per_s", 12345}}});
    sink->write(val_record(120, 1011.0));
    sink->write({.step = 140, .wall_time = 1020.0, .scalars = {{"train/loss", 1.25}}});
  }
  EXPECT_EQ(out.text(),
            "\rstep 100/1000 | loss 2.0000 | 1.0M tok/s\x1b[K"
            "\rstep 120/1000 | loss 1.5000 | 12.3k tok/s | eta 7m20s\x1b[K"
            "\nstep 120/1000 | val/loss 1.1000 | val/ppl 3.004 | val/bits_per_base 1.5870\n"
            "\rstep 140/1000 | loss 1.2500 | eta 7m10s\x1b[K"
            "\n");  // closing the sink ends the progress line
}

TEST(ConsoleSinkTest, NoTotalMeansNoEtaAndLongEtasUseHoursAndDays) {
  Captured out;
  {
    auto sink = make_console_sink(0, false, out.file());
    sink->write({.step = 1, .wall_time = 10.0, .scalars = {}});
    sink->write({.step = 2, .wall_time = 20.0, .scalars = {}});
  }
  {
    auto sink = make_console_sink(100000, false, out.file());
    sink->write({.step = 0, .wall_time = 0.0, .scalars = {}});
    sink->write({.step = 10, .wall_time = 75.0, .scalars = {}});         // 99990 steps at 7.5 s/step: 8d16h
    sink->write({.step = 99000, .wall_time = 742500.0, .scalars = {}});  // 1000 steps at 7.5 s/step: 2h05m
  }
  EXPECT_EQ(out.text(),
            "step 1\nstep 2\nstep 0/100000\nstep 10/100000 eta 8d16h\nstep 99000/100000 eta 2h05m\n");
}

// ---------------------------------------------------------------------------------------------------------
// MetricLogger

class RecordingSink : public MetricSink {
 public:
  RecordingSink(std::vector<MetricRecord>* records, int* flushes, bool fail)
      : records_(records), flushes_(flushes), fail_(fail) {}
  void write(const MetricRecord& record) override {
    records_->push_back(record);
    if (fail_) throw Error("sink failed");
  }
  void flush() override { ++*flushes_; }

 private:
  std::vector<MetricRecord>* records_;
  int* flushes_;
  bool fail_;
};

TEST(MetricLoggerTest, FansOutFillsInTheTimeAndReportsTheFirstError) {
  std::vector<MetricRecord> a, b;
  int flushes_a = 0, flushes_b = 0;
  MetricLogger logger;
  logger.add(std::make_unique<RecordingSink>(&a, &flushes_a, false));
  logger.add(std::make_unique<RecordingSink>(&b, &flushes_b, false));
  logger.write({.step = 4, .wall_time = 12.5, .scalars = {{"train/loss", 1.0}}});
  const double before = static_cast<double>(std::time(nullptr)) - 1;
  logger.write({.step = 5, .wall_time = 0, .scalars = {{"train/loss", 0.5}}});
  logger.flush();
  ASSERT_EQ(a.size(), 2u);
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(a[0].wall_time, 12.5);
  EXPECT_EQ(a[0].scalars, b[0].scalars);
  EXPECT_GE(a[1].wall_time, before);
  EXPECT_EQ(a[1].wall_time, b[1].wall_time);
  EXPECT_EQ(a[1].step, 5);
  EXPECT_EQ(flushes_a, 1);
  EXPECT_EQ(flushes_b, 1);

  std::vector<MetricRecord> c;
  int flushes_c = 0;
  MetricLogger failing;
  failing.add(std::make_unique<RecordingSink>(&c, &flushes_c, true));
  failing.add(std::make_unique<RecordingSink>(&a, &flushes_a, false));
  EXPECT_THROW(failing.write({.step = 6, .wall_time = 1.0, .scalars = {}}), Error);
  EXPECT_EQ(c.size(), 1u);
  EXPECT_EQ(a.size(), 3u);  // the sink after the failing one was still written
}

}  // namespace
}  // namespace strand
