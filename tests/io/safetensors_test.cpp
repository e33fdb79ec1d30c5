#include "strand/io/safetensors.h"

#include "strand/core/error.h"

#include "file_bytes.h"
#include "temp_dir.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace strand::io {
namespace {

namespace fs = std::filesystem;

class SafetensorsTest : public testing::TempDirTest {
 protected:
  std::string file(const std::string& name) const { return path(name); }
};

std::string le64(uint64_t v) {
  std::string s(8, '\0');
  for (size_t i = 0; i < 8; ++i) s[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
  return s;
}

// A file from its parts, exactly as given: no padding, no checks.
std::string st_bytes(const std::string& header, const std::string& data) {
  return le64(header.size()) + header + data;
}

void write_raw(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

std::string read_raw(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Expects open() to throw a one-line strand::Error that starts with the path and contains `needle`.
void expect_open_error(const std::string& path, const std::string& needle) {
  try {
    SafetensorsFile::open(path);
    ADD_FAILURE() << "opened without error; expected '" << needle << "'";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << "expected '" << needle << "' in: " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

const std::vector<DType> kAllDTypes = {DType::F32,    DType::F64, DType::BF16, DType::F16, DType::F8E4M3,
                                       DType::F8E5M2, DType::I64, DType::I32,  DType::I16, DType::I8,
                                       DType::U8,     DType::U16, DType::U32,  DType::U64, DType::Bool};

TEST_F(SafetensorsTest, RoundTripsEveryDTypeAndEdgeShapes) {
  std::vector<NamedTensor> tensors;
  for (size_t i = 0; i < kAllDTypes.size(); ++i) {
    const Shape shape = {static_cast<int64_t>(i % 3 + 1), 5, 3};
    tensors.push_back({fmt::format("t{}.{}", i, dtype_name(kAllDTypes[i])),
                       random_tensor(shape, kAllDTypes[i], static_cast<uint32_t>(i))});
  }
  tensors.push_back({"scalar", random_tensor({}, DType::F32, 100)});
  tensors.push_back({"empty_dim", random_tensor({3, 0, 2}, DType::BF16, 101)});
  tensors.push_back({"empty_1d", random_tensor({0}, DType::I64, 102)});
  const std::string path = file("all.safetensors");
  save_safetensors(path, tensors);

  const SafetensorsFile f = SafetensorsFile::open(path);
  ASSERT_EQ(f.tensors().size(), tensors.size());
  EXPECT_TRUE(f.metadata().empty());
  for (const NamedTensor& nt : tensors) {
    SCOPED_TRACE(nt.name);
    ASSERT_TRUE(f.contains(nt.name));
    const TensorInfo& info = f.info(nt.name);
    EXPECT_EQ(info.dtype, nt.tensor.dtype());
    EXPECT_EQ(info.shape, nt.tensor.shape());
    EXPECT_EQ(info.nbytes(), nt.tensor.nbytes());
    const Tensor back = f.read(nt.name);
    EXPECT_EQ(back.dtype(), nt.tensor.dtype());
    EXPECT_EQ(back.shape(), nt.tensor.shape());
    EXPECT_TRUE(back.is_contiguous());
    EXPECT_EQ(bytes_of(back), bytes_of(nt.tensor));
  }
  EXPECT_EQ(f.info("scalar").shape.rank(), 0);
  EXPECT_EQ(f.read("scalar").numel(), 1);
  EXPECT_EQ(f.read("empty_dim").numel(), 0);
}

TEST_F(SafetensorsTest, WritesByteExactFileFromSpec) {
  Tensor x = Tensor::empty({2}, DType::F32);
  x.data<float>()[0] = 1.0f;
  x.data<float>()[1] = -2.0f;
  const std::string path = file("x.safetensors");
  save_safetensors(path, {{"x", x}});

  // 54 bytes of JSON, padded with 2 spaces to 56 = 0x38; 1.0f = 0x3F800000 and -2.0f = 0xC0000000,
  // little-endian.
  std::string expected = std::string("\x38\x00\x00\x00\x00\x00\x00\x00", 8);
  expected += R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  expected += "  ";
  expected += std::string("\x00\x00\x80\x3f\x00\x00\x00\xc0", 8);
  EXPECT_EQ(read_raw(path), expected);
}

TEST_F(SafetensorsTest, WritesByteExactFileWithMetadata) {
  Tensor x = Tensor::empty({2}, DType::F32);
  x.data<float>()[0] = 1.0f;
  x.data<float>()[1] = -2.0f;
  const std::string path = file("x.safetensors");
  save_safetensors(path, {{"x", x}}, {{"format", "pt"}});

  // 85 bytes of JSON padded with 3 spaces to 88 = 0x58; metadata comes first.
  std::string expected = std::string("\x58\x00\x00\x00\x00\x00\x00\x00", 8);
  expected += R"({"__metadata__":{"format":"pt"},"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  expected += "   ";
  expected += std::string("\x00\x00\x80\x3f\x00\x00\x00\xc0", 8);
  EXPECT_EQ(read_raw(path), expected);
}

TEST_F(SafetensorsTest, ReadsHandBuiltFile) {
  // Entries out of offset order, keys in unusual order, whitespace and padding: all allowed by the spec.
  const std::string header =
      "{ \"b\" : {\"data_offsets\": [4, 6], \"shape\": [1], \"dtype\": \"BF16\"},\n"
      "  \"a\": {\"shape\": [], \"dtype\": \"I32\", \"data_offsets\": [0, 4]},\n"
      "  \"__metadata__\": {\"note\": \"h\\u00e9\"} }      ";
  const std::string data = std::string("\x2a\x00\x00\x00", 4) + std::string("\x80\x3f", 2);  // 42; bf16 1.0
  const std::string path = file("hand.safetensors");
  write_raw(path, st_bytes(header, data));

  const SafetensorsFile f = SafetensorsFile::open(path);
  ASSERT_EQ(f.tensors().size(), 2u);
  EXPECT_EQ(f.tensors()[0].name, "a");  // ordered by offset
  EXPECT_EQ(f.tensors()[1].name, "b");
  EXPECT_EQ(f.tensors()[1].begin, 4u);
  EXPECT_EQ(f.tensors()[1].end, 6u);
  EXPECT_EQ(f.read("a").item(), 42.0);
  EXPECT_EQ(f.read("b").item(), 1.0);
  EXPECT_EQ(f.metadata().at("note"), "h\xc3\xa9");
}

TEST_F(SafetensorsTest, HeaderIsPaddedObjectInGivenOrder) {
  for (int extra = 0; extra < 8; ++extra) {
    SCOPED_TRACE(extra);
    // Name lengths vary so that every padding amount occurs.
    const std::vector<NamedTensor> tensors = {
        {"zeta" + std::string(static_cast<size_t>(extra), 'q'), random_tensor({3}, DType::F16, 1)},
        {"alpha", random_tensor({2, 2}, DType::F32, 2)},
        {"mid", random_tensor({5}, DType::U8, 3)}};
    const std::string path = file("order.safetensors");
    save_safetensors(path, tensors);
    const std::string raw = read_raw(path);
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(raw[static_cast<size_t>(i)]);
    EXPECT_EQ(n % 8, 0u);
    ASSERT_LE(8 + n, raw.size());
    const std::string header = raw.substr(8, n);
    EXPECT_EQ(header.front(), '{');
    const size_t close = header.rfind('}');
    EXPECT_EQ(header.find_first_not_of(' ', close + 1), std::string::npos) << "padding must be spaces";
    EXPECT_EQ(header.find("__metadata__"), std::string::npos) << "empty metadata must be omitted";

    const auto json = nlohmann::ordered_json::parse(header);
    std::vector<std::string> keys;
    uint64_t offset = 0;
    for (const auto& [key, value] : json.items()) {
      keys.push_back(key);
      EXPECT_EQ(value["data_offsets"][0].get<uint64_t>(), offset);
      offset = value["data_offsets"][1].get<uint64_t>();
    }
    EXPECT_EQ(keys, (std::vector<std::string>{tensors[0].name, "alpha", "mid"}));
    EXPECT_EQ(8 + n + offset, raw.size());
  }
}

TEST_F(SafetensorsTest, MetadataRoundTrips) {
  const std::map<std::string, std::string> metadata = {
      {"format", "pt"}, {"empty", ""}, {"unicode \xe2\x9c\x93", "quote \" and \\ and \n newline"}};
  const std::string path = file("meta.safetensors");
  save_safetensors(path, {{"w", random_tensor({4}, DType::F32, 7)}}, metadata);
  EXPECT_EQ(SafetensorsFile::open(path).metadata(), metadata);

  save_safetensors(path, {}, metadata);
  const SafetensorsFile no_tensors = SafetensorsFile::open(path);
  EXPECT_TRUE(no_tensors.tensors().empty());
  EXPECT_EQ(no_tensors.metadata(), metadata);
}

TEST_F(SafetensorsTest, WritesNonContiguousTensorAsItsContiguousCopy) {
  Tensor m = Tensor::empty({2, 3}, DType::F32);
  for (int i = 0; i < 6; ++i) m.data<float>()[i] = static_cast<float>(i);
  const Tensor t = m.transpose(0, 1);  // [3, 2]: rows (0, 3), (1, 4), (2, 5)
  ASSERT_FALSE(t.is_contiguous());
  const std::string path = file("t.safetensors");
  save_safetensors(path, {{"t", t}, {"col", m.narrow(1, 1, 1)}});
  const SafetensorsFile f = SafetensorsFile::open(path);
  const Tensor back = f.read("t");
  EXPECT_EQ(back.shape(), Shape({3, 2}));
  const std::vector<float> expected = {0, 3, 1, 4, 2, 5};
  for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(back.item(i), expected[static_cast<size_t>(i)]);
  const Tensor col = f.read("col");
  EXPECT_EQ(col.shape(), Shape({2, 1}));
  EXPECT_EQ(col.item(0), 1.0);
  EXPECT_EQ(col.item(1), 4.0);
}

TEST_F(SafetensorsTest, WriterRejectsBadInputWithoutTouchingTheTarget) {
  const std::string path = file("keep.safetensors");
  const Tensor a = random_tensor({2}, DType::F32, 1);
  save_safetensors(path, {{"a", a}});
  const std::string before = read_raw(path);

  float host[2] = {0, 0};
  const Tensor on_gpu = Tensor::wrap(host, {2}, DType::F32, Device::cuda(0));
  const struct {
    std::vector<NamedTensor> tensors;
    std::string needle;
  } cases[] = {
      {{{"a", a}, {"b", a}, {"a", a}}, "tensor 'a': duplicate name"},
      {{{"__metadata__", a}}, "reserved"},
      {{{"g", on_gpu}}, "not on the host"},
      {{{"u", Tensor()}}, "undefined"},
      {{{"bad\xff", a}}, "UTF-8"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.needle);
    try {
      save_safetensors(path, c.tensors);
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
      EXPECT_NE(msg.find(c.needle), std::string::npos) << msg;
    }
    EXPECT_EQ(read_raw(path), before);
  }
  EXPECT_THROW(save_safetensors(path, {{"a", a}}, {{"k", "bad\xc3"}}), Error);
  EXPECT_EQ(read_raw(path), before);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1)
      << "temporary files left";
}

TEST_F(SafetensorsTest, MissingTensorErrorNamesTensorAndFile) {
  const std::string path = file("one.safetensors");
  save_safetensors(path, {{"present", random_tensor({1}, DType::F32, 1)}});
  const SafetensorsFile f = SafetensorsFile::open(path);
  EXPECT_FALSE(f.contains("absent"));
  for (const auto& call : {+[](const SafetensorsFile& g) { g.info("absent"); },
                           +[](const SafetensorsFile& g) { g.read("absent"); }}) {
    try {
      call(f);
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("'absent'"), std::string::npos) << msg;
      EXPECT_NE(msg.find(path), std::string::npos) << msg;
    }
  }
}

TEST_F(SafetensorsTest, OpenRejectsMissingFileAndDirectory) {
  expect_open_error(file("nope.safetensors"), "cannot open");
  expect_open_error(dir_.string(), "not a regular file");
}

// One malformed file per rule of the format, each written byte by byte.
struct Malformed {
  const char* name;
  std::string bytes;
  const char* needle;
};

std::string entry(const std::string& name, const std::string& dtype, const std::string& shape, uint64_t begin,
                  uint64_t end) {
  return fmt::format(R"("{}":{{"dtype":"{}","shape":{},"data_offsets":[{},{}]}})", name, dtype, shape, begin,
                     end);
}

std::vector<Malformed> malformed_cases() {
  const std::string d8(8, '\x11');
  const std::string a = entry("a", "F32", "[2]", 0, 8);
  const std::string nested = "{\"a\":" + std::string(100, '[') + std::string(100, ']') + "}";
  return {
      {"empty file", "", "too short"},
      {"7 bytes", std::string("\x02\x00\x00\x00\x00\x00\x00", 7), "too short"},
      {"header over cap", le64(100'000'001) + "{}", "exceeds the 100000000-byte limit"},
      {"header length 2^64-1", le64(~uint64_t{0}) + "{}", "exceeds"},
      {"header beyond file", le64(64) + "{}", "beyond the end of the 10-byte file"},
      {"header length 0", le64(0), "does not start with '{'"},
      {"leading space", st_bytes(" {}", ""), "does not start with '{'"},
      {"array header", st_bytes("[1]", ""), "does not start with '{'"},
      {"syntax error", st_bytes("{\"a\":", ""), "invalid JSON"},
      {"truncated json", st_bytes("{" + a, d8), "invalid JSON"},
      {"invalid utf-8", st_bytes("{\"\xff\":1}", ""), "UTF-8"},
      {"overlong utf-8", st_bytes("{\"\xc0\x80\":1}", ""), "UTF-8"},
      {"trailing json", st_bytes("{} {}", ""), "invalid JSON"},
      {"nul padding", st_bytes(std::string("{}\0\0", 4), ""), "NUL byte at offset 2"},
      {"nul then garbage", st_bytes(std::string("{}\0{\"x\"", 6), ""), "NUL byte"},
      {"duplicate tensor",
       st_bytes("{" + entry("a", "F32", "[1]", 0, 4) + "," + entry("a", "F32", "[1]", 4, 8) + "}", d8),
       "duplicate key 'a'"},
      {"duplicate field",
       st_bytes(R"({"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}})", d8),
       "duplicate key 'dtype'"},
      {"duplicate metadata", st_bytes(R"({"__metadata__":{},"__metadata__":{}})", ""),
       "duplicate key '__metadata__'"},
      {"entry not object", st_bytes(R"({"a":5})", ""), "tensor 'a': entry is number, not an object"},
      {"missing dtype", st_bytes(R"({"a":{"shape":[2],"data_offsets":[0,8]}})", d8),
       "tensor 'a': missing \"dtype\""},
      {"dtype not string", st_bytes(R"({"a":{"dtype":4,"shape":[2],"data_offsets":[0,8]}})", d8),
       "not a string"},
      {"unknown dtype", st_bytes("{" + entry("x", "F12", "[2]", 0, 8) + "}", d8),
       "tensor 'x': unknown dtype 'F12'"},
      {"lowercase dtype", st_bytes("{" + entry("x", "f32", "[2]", 0, 8) + "}", d8), "unknown dtype 'f32'"},
      {"missing shape", st_bytes(R"({"a":{"dtype":"F32","data_offsets":[0,8]}})", d8), "missing \"shape\""},
      {"shape not array", st_bytes("{" + entry("a", "F32", "2", 0, 8) + "}", d8), "\"shape\" is number"},
      {"shape float", st_bytes("{" + entry("a", "F32", "[2.0]", 0, 8) + "}", d8), "not an integer"},
      {"shape string", st_bytes("{" + entry("a", "F32", "[\"2\"]", 0, 8) + "}", d8), "not an integer"},
      {"shape negative", st_bytes("{" + entry("a", "F32", "[-2]", 0, 8) + "}", d8), "negative extent"},
      {"shape too many dims", st_bytes("{" + entry("a", "U8", "[1,1,1,1,1,1,1,1,1]", 0, 1) + "}", "\x01"),
       "9 dimensions"},
      {"shape overflow", st_bytes("{" + entry("a", "F32", "[4294967296,4294967296]", 0, 8) + "}", d8),
       "overflows"},
      {"shape int64 overflow", st_bytes("{" + entry("a", "U8", "[3037000500,3037000500]", 0, 8) + "}", d8),
       "overflows"},
      {"shape beyond 2^64", st_bytes("{" + entry("a", "U8", "[18446744073709551616]", 0, 8) + "}", d8),
       "not an integer"},
      {"shape zero after overflow",
       st_bytes("{" + entry("a", "U8", "[4294967296,4294967296,0]", 0, 0) + "}", ""), "overflows"},
      {"bytes overflow", st_bytes("{" + entry("a", "F64", "[4611686018427387904]", 0, 8) + "}", d8),
       "overflows"},
      {"missing offsets", st_bytes(R"({"a":{"dtype":"F32","shape":[2]}})", d8), "missing \"data_offsets\""},
      {"offsets not array", st_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":8}})", d8),
       "not a pair"},
      {"offsets one", st_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8]}})", d8), "not a pair"},
      {"offsets three", st_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}})", d8),
       "not a pair"},
      {"offsets negative", st_bytes(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[-1,-1]}})", ""),
       "not two non-negative integers"},
      {"offsets float", st_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8.0]}})", d8),
       "not two non-negative integers"},
      {"offsets string", st_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":["0",8]}})", d8),
       "not two non-negative integers"},
      {"begin after end", st_bytes("{" + entry("a", "F32", "[2]", 8, 0) + "}", d8), "end before they begin"},
      {"size mismatch", st_bytes("{" + entry("a", "F32", "[2]", 0, 4) + "}", d8.substr(0, 4)),
       "span 4 bytes, but F32[2] takes 8"},
      {"size mismatch huge", st_bytes("{" + entry("a", "F32", "[2]", 0, 18446744073709551615ull) + "}", d8),
       "span 18446744073709551615 bytes"},
      {"end beyond buffer", st_bytes("{" + a + "}", d8.substr(0, 6)), "beyond the 6-byte data buffer"},
      {"zero size beyond buffer", st_bytes("{" + a + "," + entry("z", "F32", "[0]", 9, 9) + "}", d8),
       "beyond"},
      {"overlap", st_bytes("{" + a + "," + entry("b", "F32", "[1]", 4, 8) + "}", d8), "overlaps tensor"},
      {"identical ranges", st_bytes("{" + a + "," + entry("b", "F32", "[2]", 0, 8) + "}", d8), "overlaps"},
      {"zero size inside another", st_bytes("{" + a + "," + entry("z", "U8", "[0]", 4, 4) + "}", d8),
       "overlaps"},
      {"hole",
       st_bytes("{" + entry("a", "F32", "[1]", 0, 4) + "," + entry("b", "F32", "[1]", 8, 12) + "}",
                d8 + "1234"),
       "4 bytes between tensor 'a' (ends at 4) and tensor 'b' belong to no tensor"},
      {"not from zero", st_bytes("{" + entry("a", "F32", "[1]", 4, 8) + "}", d8), "starts with 4 bytes"},
      {"trailing bytes", st_bytes("{" + a + "}", d8 + "x"), "1 trailing bytes"},
      {"data without tensors", st_bytes("{}", "xy"), "2 trailing bytes"},
      {"metadata not object", st_bytes(R"({"__metadata__":"pt"})", ""),
       "\"__metadata__\" is string, not an object"},
      {"metadata value number", st_bytes(R"({"__metadata__":{"k":1}})", ""), "value of 'k' is number"},
      {"metadata value object", st_bytes(R"({"__metadata__":{"k":{}}})", ""), "not a string"},
      {"deep nesting", st_bytes(nested, ""), "nests deeper than 64"},
      {"control char name", st_bytes("{" + entry("a\\nb", "F12", "[2]", 0, 8) + "}", d8),
       "tensor 'a\\x0ab': unknown dtype"},
  };
}

TEST_F(SafetensorsTest, RejectsEachMalformedFile) {
  for (const Malformed& c : malformed_cases()) {
    SCOPED_TRACE(c.name);
    const std::string path = file("bad.safetensors");
    write_raw(path, c.bytes);
    expect_open_error(path, c.needle);
  }
}

TEST_F(SafetensorsTest, AcceptsBoundaryCasesTheRulesAllow) {
  const std::string path = file("edge.safetensors");
  // Zero-size tensors between others and at the buffer's end, and whitespace other than spaces after the
  // JSON.
  const std::string d8(8, '\x22');
  write_raw(path,
            st_bytes("{" + entry("a", "F32", "[1]", 0, 4) + "," + entry("z0", "F32", "[0]", 4, 4) + "," +
                         entry("b", "F32", "[1]", 4, 8) + "," + entry("z1", "BOOL", "[2,0]", 8, 8) + "}\t\n ",
                     d8));
  const SafetensorsFile f = SafetensorsFile::open(path);
  ASSERT_EQ(f.tensors().size(), 4u);
  EXPECT_EQ(f.tensors()[0].name, "a");
  EXPECT_EQ(f.tensors()[1].name, "z0");
  EXPECT_EQ(f.tensors()[2].name, "b");
  EXPECT_EQ(f.tensors()[3].name, "z1");
  EXPECT_EQ(f.read("z1").shape(), Shape({2, 0}));

  write_raw(path, st_bytes("{}", ""));
  EXPECT_TRUE(SafetensorsFile::open(path).tensors().empty());
  // -0 is an integer zero in JSON; extra fields in an entry are ignored, as by the reference reader.
  write_raw(path, st_bytes(R"({"a":{"dtype":"U8","shape":[-0],"data_offsets":[-0,0],"extra":true}})", ""));
  EXPECT_EQ(SafetensorsFile::open(path).info("a").shape, Shape({0}));
}

TEST_F(SafetensorsTest, MutatedFilesOpenOrThrowNeverCrash) {
  std::vector<NamedTensor> tensors = {{"embed.weight", random_tensor({4, 3}, DType::BF16, 1)},
                                      {"layers.0.w", random_tensor({3, 3}, DType::F32, 2)},
                                      {"layers.0.b", random_tensor({3}, DType::F32, 3)},
                                      {"mask", random_tensor({5}, DType::Bool, 4)},
                                      {"scalar", random_tensor({}, DType::I64, 5)}};
  const std::string valid_path = file("valid.safetensors");
  save_safetensors(valid_path, tensors, {{"format", "pt"}});
  const std::string valid = read_raw(valid_path);
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i)
    header_size = (header_size << 8) | static_cast<unsigned char>(valid[static_cast<size_t>(i)]);

  std::mt19937 rng(20240611);
  const auto uniform = [&rng](size_t n) { return static_cast<size_t>(rng() % n); };
  const std::string json_chars = "{}[],:\"-0123456789eE. \\u";
  const std::string path = file("mutant.safetensors");
  int opened = 0, rejected = 0;
  for (int iter = 0; iter < 2000; ++iter) {
    std::string m = valid;
    const size_t header_end = 8 + static_cast<size_t>(header_size);
    switch (iter % 6) {
      case 0:  // random bytes anywhere in length field or header
        for (size_t k = 0, n = 1 + uniform(4); k < n; ++k) m[uniform(header_end)] = static_cast<char>(rng());
        break;
      case 1:  // JSON-significant characters in the header
        m[8 + uniform(static_cast<size_t>(header_size))] = json_chars[uniform(json_chars.size())];
        break;
      case 2:  // truncation
        m.resize(uniform(m.size()));
        break;
      case 3:  // appended or inserted bytes
        m.insert(uniform(m.size() + 1), std::string(1 + uniform(8), static_cast<char>(rng())));
        break;
      case 4:  // header length off by a little
        m.replace(0, 8, le64(header_size + uniform(33) - 16));
        break;
      case 5:  // a flipped bit anywhere (mostly data, which must still open)
        m[uniform(m.size())] ^= static_cast<char>(1 << uniform(8));
        break;
    }
    write_raw(path, m);
    try {
      const SafetensorsFile f = SafetensorsFile::open(path);
      // Whatever was accepted must satisfy the format's invariants and be fully readable.
      uint64_t covered = 0;
      for (const TensorInfo& t : f.tensors()) {
        ASSERT_EQ(t.begin, covered) << "iteration " << iter;
        ASSERT_EQ(t.nbytes(), static_cast<uint64_t>(t.shape.numel()) * dtype_size(t.dtype));
        covered = t.end;
        ASSERT_EQ(f.read(t.name).nbytes(), t.nbytes());
      }
      uint64_t n = 0;
      for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(m[static_cast<size_t>(i)]);
      ASSERT_EQ(8 + n + covered, m.size()) << "iteration " << iter;
      ++opened;
    } catch (const Error& e) {
      const std::string msg = e.what();
      ASSERT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
      ASSERT_EQ(msg.find('\n'), std::string::npos) << msg;
      ++rejected;
    } catch (const std::exception& e) {
      FAIL() << "iteration " << iter << ": non-strand exception: " << e.what();
    }
  }
  EXPECT_GT(opened, 100);
  EXPECT_GT(rejected, 500);
}

TEST_F(SafetensorsTest, CopiesShareTheOpenFile) {
  const std::string path = file("shared.safetensors");
  const Tensor a = random_tensor({16}, DType::U8, 9);
  save_safetensors(path, {{"a", a}});
  SafetensorsFile copy = SafetensorsFile::open(path);
  {
    const SafetensorsFile original = SafetensorsFile::open(path);
    copy = original;
  }
  // The file is read through the descriptor opened earlier, so unlinking the path does not matter.
  fs::remove(path);
  EXPECT_EQ(bytes_of(copy.read("a")), bytes_of(a));
}

}  // namespace
}  // namespace strand::io
