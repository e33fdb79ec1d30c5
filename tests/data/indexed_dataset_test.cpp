#include "strand/data/indexed_dataset.h"

#include "strand/core/error.h"
#include "strand/core/json.h"

#include "expect_error.h"
#include "io/file_bytes.h"
#include "temp_dir.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace strand::data {
namespace {

using testing::error_of;

using Docs = std::vector<std::vector<int32_t>>;

class IndexedDatasetTest : public testing::TempDirTest {
 protected:
  void write_dataset(const std::string& prefix, DType dtype, const Docs& docs) const {
    IndexedDatasetWriter w(path(prefix), dtype);
    for (const auto& d : docs) w.add_document(d);
    w.finish();
  }
  void write_bytes(const std::string& name, const std::string& bytes) const {
    std::ofstream out(path(name), std::ios::binary | std::ios::trunc);
    out << bytes;
  }
  void expect_reads_back(const std::string& prefix, DType dtype, const Docs& docs) const {
    const IndexedDataset ds = IndexedDataset::open(path(prefix));
    EXPECT_EQ(ds.dtype(), dtype);
    ASSERT_EQ(ds.size(), docs.size());
    uint64_t total = 0;
    for (size_t i = 0; i < docs.size(); ++i) {
      EXPECT_EQ(ds.length(i), docs[i].size()) << i;
      EXPECT_EQ(ds.get(i), docs[i]) << i;
      total += docs[i].size();
    }
    EXPECT_EQ(ds.total_tokens(), total);
    std::vector<int64_t> expected_docs(docs.size() + 1);
    for (size_t d = 0; d <= docs.size(); ++d) expected_docs[d] = static_cast<int64_t>(d);
    EXPECT_EQ(ds.document_indices(), expected_docs);
  }
  // Reads the dataset with the numpy-only reader; false (with a skip reason) when python3 or numpy is
  // missing.
  bool independent_read(const std::string& prefix, nlohmann::json& out, std::string& why) const {
    if (!std::filesystem::exists("/usr/bin/python3")) {
      why = "/usr/bin/python3 is not installed";
      return false;
    }
    if (std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) {
      why = "numpy is not installed for /usr/bin/python3 (Debian: python3-numpy)";
      return false;
    }
    const std::string json_path = path("independent.json");
    const std::string command = "/usr/bin/python3 '" + std::string(STRAND_TEST_DATA) +
                                "/data/independent_idx_reader.py' '" + path(prefix) + "' > '" + json_path +
                                "'";
    const int status = std::system(command.c_str());
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << command;
    out = read_json_file(json_path);
    std::filesystem::remove(json_path);
    return true;
  }
};

Docs sample_docs(int32_t max_token, uint32_t seed) {
  std::mt19937 rng(seed);
  Docs docs = {{0, 1, 2, max_token}, {}, {max_token}};
  for (int d = 0; d < 20; ++d) {
    std::vector<int32_t> doc(rng() % 300);
    for (auto& t : doc) t = static_cast<int32_t>(rng() % (static_cast<uint32_t>(max_token) + 1));
    docs.push_back(doc);
  }
  return docs;
}

TEST_F(IndexedDatasetTest, RoundTripForEveryTokenDtype) {
  for (const auto& [dtype, max] : {std::pair{DType::U8, 255}, std::pair{DType::U16, 65535},
                                   std::pair{DType::I32, std::numeric_limits<int32_t>::max()}}) {
    SCOPED_TRACE(std::string(dtype_name(dtype)));
    const Docs docs = sample_docs(max, 11);
    write_dataset("ds", dtype, docs);
    expect_reads_back("ds", dtype, docs);
    EXPECT_EQ(files(), (std::set<std::string>{"ds.bin", "ds.idx"}));
  }
}

TEST_F(IndexedDatasetTest, ReadsSlicesOfASequence) {
  const Docs docs = {{7, 8, 9}, {1, 2, 3, 4, 5, 6}};
  write_dataset("ds", DType::U16, docs);
  const IndexedDataset ds = IndexedDataset::open(path("ds"));
  std::vector<int32_t> out = {99};
  ds.read(1, 2, 3, out);  // appends
  EXPECT_EQ(out, (std::vector<int32_t>{99, 3, 4, 5}));
  ds.read(1, 6, 0, out);
  EXPECT_EQ(out.size(), 4u);
  EXPECT_CONTAINS(error_of([&] { ds.read(1, 4, 3, out); }), "out of range for sequence 1 of 6 tokens");
}

TEST_F(IndexedDatasetTest, ExactBytes) {
  write_dataset("ds", DType::U16, {{1, 2}, {770}});
  std::string idx("MMIDIDX\0\0", 9);
  const auto u64 = [&idx](uint64_t v) { idx.append(reinterpret_cast<const char*>(&v), 8); };
  u64(1);
  idx += '\x08';  // uint16
  u64(2);         // sequences
  u64(3);         // document indices
  for (const int32_t len : {2, 1}) idx.append(reinterpret_cast<const char*>(&len), 4);
  for (const int64_t ptr : {0, 4}) idx.append(reinterpret_cast<const char*>(&ptr), 8);
  for (const int64_t d : {0, 1, 2}) idx.append(reinterpret_cast<const char*>(&d), 8);
  EXPECT_EQ(io::read_text(path("ds.idx")), idx);
  EXPECT_EQ(io::read_text(path("ds.bin")), std::string("\x01\x00\x02\x00\x02\x03", 6));
  write_dataset("u8", DType::U8, {{7}});
  EXPECT_EQ(io::read_text(path("u8.idx"))[17], '\x01');
  write_dataset("i32", DType::I32, {{7}});
  EXPECT_EQ(io::read_text(path("i32.idx"))[17], '\x04');
}

TEST_F(IndexedDatasetTest, EmptyDataset) {
  write_dataset("ds", DType::U16, {});
  expect_reads_back("ds", DType::U16, {});
  EXPECT_EQ(io::read_text(path("ds.bin")), "");
}

TEST_F(IndexedDatasetTest, WriterRejectsTokensOutsideTheDtype) {
  {
    IndexedDatasetWriter w(path("ds"), DType::U8);
    const std::vector<int32_t> ok = {255}, too_big = {1, 256}, negative = {-1};
    w.add_document(ok);
    EXPECT_CONTAINS(error_of([&] { w.add_document(too_big); }),
                    "token 1 of document 1 is 256, outside the U8 range");
    EXPECT_CONTAINS(error_of([&] { w.add_document(negative); }), "is -1, outside");
  }
  // Never finished: nothing left behind.
  EXPECT_TRUE(files().empty());
  EXPECT_CONTAINS(error_of([&] { IndexedDatasetWriter w(path("ds"), DType::F32); }), "U8, U16 or I32");
  EXPECT_CONTAINS(error_of([&] { IndexedDatasetWriter w(path("no/such/dir/ds"), DType::U16); }),
                  "no/such/dir/ds.bin");
}

TEST_F(IndexedDatasetTest, NothingIsPublishedWithoutFinish) {
  {
    IndexedDatasetWriter w(path("ds"), DType::U16);
    const std::vector<int32_t> doc(100000, 5);
    for (int i = 0; i < 30; ++i)
      w.add_document(doc);  // past the write buffer: bytes reach the temporary file
  }
  EXPECT_TRUE(files().empty());
}

TEST_F(IndexedDatasetTest, ReaderRejectsDamagedFiles) {
  write_dataset("ds", DType::U16, {{1, 2, 3}, {4, 5}});
  const std::string idx = io::read_text(path("ds.idx"));
  const std::string bin = io::read_text(path("ds.bin"));
  const auto expect_rejected = [&](const std::string& new_idx, const std::string& new_bin,
                                   const std::string& file, const std::string& what) {
    write_bytes("bad.idx", new_idx);
    write_bytes("bad.bin", new_bin);
    const std::string message = error_of([&] { IndexedDataset::open(path("bad")); });
    EXPECT_CONTAINS(message, path(file) + ": ");
    EXPECT_CONTAINS(message, what);
  };
  expect_rejected(idx.substr(0, idx.size() - 1), bin, "bad.idx", "does not match its counts");
  expect_rejected(idx.substr(0, 20), bin, "bad.idx", "truncated index");
  expect_rejected(idx + "x", bin, "bad.idx", "does not match its counts");
  expect_rejected(idx, bin.substr(0, bin.size() - 2), "bad.bin", "size 8 bytes, but");
  expect_rejected(idx, bin + "xx", "bad.bin", "size 12 bytes, but");
  std::string bad = idx;
  bad[0] = 'X';
  expect_rejected(bad, bin, "bad.idx", "bad magic");
  bad = idx;
  bad[9] = 2;
  expect_rejected(bad, bin, "bad.idx", "version 2");
  bad = idx;
  bad[17] = 9;
  expect_rejected(bad, bin, "bad.idx", "unknown dtype code 9");
  bad = idx;
  bad[17] = 7;
  expect_rejected(bad, bin, "bad.idx", "not a token dtype");
  bad = idx;
  bad[18] = static_cast<char>(0xff);  // a huge sequence count
  expect_rejected(bad, bin, "bad.idx", "does not match its counts");
  bad = idx;
  bad[34 + 2 * 4 + 8] = 2;  // second pointer
  expect_rejected(bad, bin, "bad.idx", "sequence 1 starts at byte 2, expected 6");
  bad = idx;
  bad[34 + 2 * 12 + 2 * 8] = 1;  // last document index
  expect_rejected(bad, bin, "bad.idx", "last document index is 1");
  bad = idx;
  bad[34 + 3] = static_cast<char>(0x80);  // negative length
  expect_rejected(bad, bin, "bad.idx", "negative length");
  write_bytes("bad.idx", idx);
  std::filesystem::remove(path("bad.bin"));
  EXPECT_CONTAINS(error_of([&] { IndexedDataset::open(path("bad")); }), path("bad.bin") + ": cannot open");
  EXPECT_CONTAINS(error_of([&] { IndexedDataset::open(path("absent")); }),
                  path("absent.idx") + ": cannot open");
  const IndexedDataset ok = IndexedDataset::open(path("ds"));
  EXPECT_CONTAINS(error_of([&] { ok.get(2); }), "sequence 2 out of range");
}

// Datasets written by Megatron's builder may group several sequences into one document, and use other dtypes.
TEST_F(IndexedDatasetTest, ReadsSequenceGroupsAndOtherIntegerDtypes) {
  std::string idx("MMIDIDX\0\0", 9);
  const auto put = [&idx](const auto v) { idx.append(reinterpret_cast<const char*>(&v), sizeof(v)); };
  put(uint64_t{1});
  put(uint8_t{5});  // int64
  put(uint64_t{3});
  put(uint64_t{3});
  for (const int32_t len : {1, 2, 1}) put(len);
  for (const int64_t ptr : {0, 8, 24}) put(ptr);
  for (const int64_t d : {0, 2, 3}) put(d);
  write_bytes("g.idx", idx);
  std::string bin;
  for (const int64_t t : {int64_t{10}, int64_t{-3}, int64_t{70000}, int64_t{1} << 40})
    bin.append(reinterpret_cast<const char*>(&t), 8);
  write_bytes("g.bin", bin);
  const IndexedDataset ds = IndexedDataset::open(path("g"));
  EXPECT_EQ(ds.dtype(), DType::I64);
  EXPECT_EQ(ds.size(), 3u);
  EXPECT_EQ(ds.document_indices(), (std::vector<int64_t>{0, 2, 3}));
  EXPECT_EQ(ds.get(1), (std::vector<int32_t>{-3, 70000}));
  EXPECT_CONTAINS(error_of([&] { ds.get(2); }), "does not fit in int32");
}

TEST_F(IndexedDatasetTest, IndependentNumpyReaderAgrees) {
  for (const auto& [dtype, max, name] :
       {std::tuple{DType::U8, 255, "uint8"}, std::tuple{DType::U16, 65535, "uint16"},
        std::tuple{DType::I32, 1 << 30, "int32"}}) {
    SCOPED_TRACE(name);
    const Docs docs = sample_docs(max, 5);
    write_dataset("ds", dtype, docs);
    nlohmann::json j;
    std::string why;
    if (!independent_read("ds", j, why)) GTEST_SKIP() << why;
    EXPECT_EQ(j["dtype"], name);
    std::vector<int32_t> lengths;
    for (const auto& d : docs) lengths.push_back(static_cast<int32_t>(d.size()));
    EXPECT_EQ(j["lengths"].get<std::vector<int32_t>>(), lengths);
    EXPECT_EQ(j["documents"].get<Docs>(), docs);
  }
}

TEST(IndexedDtype, MegatronChoiceAndCodes) {
  EXPECT_EQ(indexed_dtype_for_vocab(256), DType::U16);
  EXPECT_EQ(indexed_dtype_for_vocab(65499), DType::U16);
  EXPECT_EQ(indexed_dtype_for_vocab(65500), DType::I32);
  EXPECT_EQ(indexed_dtype_code(DType::U8), 1);
  EXPECT_EQ(indexed_dtype_code(DType::I32), 4);
  EXPECT_EQ(indexed_dtype_code(DType::U16), 8);
  EXPECT_EQ(indexed_dtype_code(DType::BF16), std::nullopt);
  for (uint8_t code = 1; code <= 8; ++code)
    EXPECT_EQ(indexed_dtype_code(*indexed_dtype_from_code(code)), code);
  EXPECT_EQ(indexed_dtype_from_code(0), std::nullopt);
  EXPECT_EQ(indexed_dtype_from_code(9), std::nullopt);
}

}  // namespace
}  // namespace strand::data
