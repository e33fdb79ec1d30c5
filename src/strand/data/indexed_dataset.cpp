#include "strand/data/indexed_dataset.h"

#include "strand/core/error.h"
#include "strand/io/atomic_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

namespace strand::data {

static_assert(std::endian::native == std::endian::little, "the indexed dataset format is little-endian");

namespace {

constexpr char kMagic[9] = {'M', 'M', 'I', 'D', 'I', 'D', 'X', '\0', '\0'};
constexpr uint64_t kVersion = 1;
constexpr size_t kHeaderBytes =
    9 + 8 + 1 + 8 + 8;  // magic, version, dtype code, sequence and document counts
constexpr size_t kWriteBufferBytes = 1 << 20;

template <typename T>
void put(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}

template <typename T>
T get_at(const std::string& in, size_t offset) {
  T value;
  std::memcpy(&value, in.data() + offset, sizeof(T));
  return value;
}

// [lo, hi] of the token dtypes the writer supports.
std::pair<int64_t, int64_t> token_range(DType dtype) {
  switch (dtype) {
    case DType::U8:
      return {0, 255};
    case DType::U16:
      return {0, 65535};
    case DType::I32:
      return {0, std::numeric_limits<int32_t>::max()};
    default:
      return {0, -1};
  }
}

template <typename T>
void append_tokens(std::vector<char>& out, std::span<const int32_t> tokens) {
  const size_t at = out.size();
  out.resize(at + tokens.size() * sizeof(T));
  char* p = out.data() + at;
  for (const int32_t t : tokens) {
    const T v = static_cast<T>(t);
    std::memcpy(p, &v, sizeof(T));
    p += sizeof(T);
  }
}

template <typename T>
// Appends n tokens starting at p (token `first` of sequence `index`) to out.
void read_tokens(const char* p, size_t n, std::vector<int32_t>& out, const std::string& bin_path,
                 uint64_t index, uint64_t first) {
  for (size_t k = 0; k < n; ++k) {
    T v;
    std::memcpy(&v, p + k * sizeof(T), sizeof(T));
    if constexpr (sizeof(T) > 4) {
      STRAND_CHECK(v >= std::numeric_limits<int32_t>::min() && v <= std::numeric_limits<int32_t>::max(),
                   "{}: token {} of sequence {} ({}) does not fit in int32", bin_path, first + k, index,
                   static_cast<int64_t>(v));
    }
    out.push_back(static_cast<int32_t>(v));
  }
}

}  // namespace

DType indexed_dtype_for_vocab(int64_t vocab_size) {
  return vocab_size < 65500 ? DType::U16 : DType::I32;
}

std::optional<uint8_t> indexed_dtype_code(DType dtype) {
  switch (dtype) {
    case DType::U8:
      return 1;
    case DType::I8:
      return 2;
    case DType::I16:
      return 3;
    case DType::I32:
      return 4;
    case DType::I64:
      return 5;
    case DType::F64:
      return 6;
    case DType::F32:
      return 7;
    case DType::U16:
      return 8;
    default:
      return std::nullopt;
  }
}

std::optional<DType> indexed_dtype_from_code(uint8_t code) {
  for (const DType d :
       {DType::U8, DType::I8, DType::I16, DType::I32, DType::I64, DType::F64, DType::F32, DType::U16}) {
    if (indexed_dtype_code(d) == code) return d;
  }
  return std::nullopt;
}

struct IndexedDatasetWriter::Files {
  Files(const std::string& bin_path, const std::string& idx_path) : bin(bin_path), idx(idx_path) {}
  io::AtomicFile bin;
  io::AtomicFile idx;
  std::vector<char> buffer;  // tokens not yet written to bin
  bool finished = false;

  void flush() {
    bin.write(buffer.data(), buffer.size());
    buffer.clear();
  }
};

IndexedDatasetWriter::IndexedDatasetWriter(std::string prefix, DType dtype)
    : prefix_(std::move(prefix)), dtype_(dtype) {
  STRAND_CHECK(dtype == DType::U8 || dtype == DType::U16 || dtype == DType::I32,
               "{}: indexed datasets are written as U8, U16 or I32 tokens, not {}", prefix_,
               dtype_name(dtype));
  files_ = std::make_unique<Files>(bin_path(), idx_path());
  files_->buffer.reserve(kWriteBufferBytes + 4096);
}

IndexedDatasetWriter::~IndexedDatasetWriter() = default;

void IndexedDatasetWriter::add_document(std::span<const int32_t> tokens) {
  STRAND_CHECK(!files_->finished, "{}: add_document after finish", prefix_);
  STRAND_CHECK(tokens.size() <= static_cast<size_t>(std::numeric_limits<int32_t>::max()),
               "{}: document {} has {} tokens; the format's lengths are int32", prefix_, lengths_.size(),
               tokens.size());
  const auto [lo, hi] = token_range(dtype_);
  for (size_t k = 0; k < tokens.size(); ++k) {
    STRAND_CHECK(tokens[k] >= lo && tokens[k] <= hi,
                 "{}: token {} of document {} is {}, outside the {} range [{}, {}]", bin_path(), k,
                 lengths_.size(), tokens[k], dtype_name(dtype_), lo, hi);
  }
  switch (dtype_) {
    case DType::U8:
      append_tokens<uint8_t>(files_->buffer, tokens);
      break;
    case DType::U16:
      append_tokens<uint16_t>(files_->buffer, tokens);
      break;
    default:
      append_tokens<int32_t>(files_->buffer, tokens);
      break;
  }
  if (files_->buffer.size() >= kWriteBufferBytes) files_->flush();
  lengths_.push_back(static_cast<int32_t>(tokens.size()));
  total_tokens_ += tokens.size();
}

void IndexedDatasetWriter::finish() {
  STRAND_CHECK(!files_->finished, "{}: finish called twice", prefix_);
  files_->flush();
  const uint64_t n = lengths_.size();
  std::string idx;
  idx.reserve(kHeaderBytes + n * 20 + 8);
  idx.append(kMagic, sizeof(kMagic));
  put<uint64_t>(idx, kVersion);
  put<uint8_t>(idx, *indexed_dtype_code(dtype_));
  put<uint64_t>(idx, n);
  put<uint64_t>(idx, n + 1);
  for (const int32_t len : lengths_) put<int32_t>(idx, len);
  const int64_t item = static_cast<int64_t>(dtype_size(dtype_));
  int64_t pointer = 0;
  for (const int32_t len : lengths_) {
    put<int64_t>(idx, pointer);
    pointer += int64_t{len} * item;
  }
  for (uint64_t d = 0; d <= n; ++d) put<int64_t>(idx, static_cast<int64_t>(d));
  files_->idx.write(idx);
  // The .bin goes first: a reader finding the new .idx finds the .bin it describes. Should the .idx fail to
  // land, the new .bin is removed so that no unindexed data stays behind.
  files_->bin.commit();
  try {
    files_->idx.commit();
  } catch (...) {
    ::unlink(bin_path().c_str());
    throw;
  }
  files_->finished = true;
}

IndexedDataset IndexedDataset::open(const std::string& prefix) {
  IndexedDataset ds;
  ds.prefix_ = prefix;
  const std::string idx_path = prefix + ".idx";
  const std::string bin_path = prefix + ".bin";

  std::ifstream in(idx_path, std::ios::binary);
  STRAND_CHECK(in.good(), "{}: cannot open: {}", idx_path, std::strerror(errno));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  STRAND_CHECK(!in.bad(), "{}: read failed", idx_path);
  const std::string idx = buffer.str();

  STRAND_CHECK(idx.size() >= kHeaderBytes, "{}: truncated index: {} bytes, the header alone is {}", idx_path,
               idx.size(), kHeaderBytes);
  STRAND_CHECK(std::memcmp(idx.data(), kMagic, sizeof(kMagic)) == 0,
               "{}: not a Megatron indexed dataset index (bad magic)", idx_path);
  const uint64_t version = get_at<uint64_t>(idx, 9);
  STRAND_CHECK(version == kVersion, "{}: unsupported index version {} (expected 1)", idx_path, version);
  const uint8_t code = get_at<uint8_t>(idx, 17);
  const std::optional<DType> dtype = indexed_dtype_from_code(code);
  STRAND_CHECK(dtype.has_value(), "{}: unknown dtype code {}", idx_path, code);
  STRAND_CHECK(!dtype_is_float(*dtype), "{}: dtype code {} ({}) is not a token dtype", idx_path, code,
               dtype_name(*dtype));
  ds.dtype_ = *dtype;
  const uint64_t n = get_at<uint64_t>(idx, 18);
  const uint64_t d = get_at<uint64_t>(idx, 26);
  // Sizes checked before they are multiplied, so that huge counts cannot overflow.
  const uint64_t room = idx.size() - kHeaderBytes;
  STRAND_CHECK(
      n <= room / 12 && d <= room / 8 && kHeaderBytes + n * 12 + d * 8 == idx.size(),
      "{}: size {} bytes does not match its counts ({} sequences, {} document indices: expected {} bytes)",
      idx_path, idx.size(), n, d,
      n <= room / 12 && d <= room / 8 ? fmt::format("{}", kHeaderBytes + n * 12 + d * 8)
                                      : std::string("more"));

  ds.lengths_.resize(n);
  ds.pointers_.resize(n);
  ds.document_indices_.resize(d);
  if (n > 0) {
    std::memcpy(ds.lengths_.data(), idx.data() + kHeaderBytes, n * 4);
    std::memcpy(ds.pointers_.data(), idx.data() + kHeaderBytes + n * 4, n * 8);
  }
  if (d > 0) std::memcpy(ds.document_indices_.data(), idx.data() + kHeaderBytes + n * 12, d * 8);

  const uint64_t item = dtype_size(ds.dtype_);
  uint64_t expected_pointer = 0;
  for (uint64_t i = 0; i < n; ++i) {
    STRAND_CHECK(ds.lengths_[i] >= 0, "{}: sequence {} has negative length {}", idx_path, i, ds.lengths_[i]);
    STRAND_CHECK(ds.pointers_[i] >= 0 && static_cast<uint64_t>(ds.pointers_[i]) == expected_pointer,
                 "{}: sequence {} starts at byte {}, expected {} (after the sequences before it)", idx_path,
                 i, ds.pointers_[i], expected_pointer);
    expected_pointer += static_cast<uint64_t>(ds.lengths_[i]) * item;
  }
  STRAND_CHECK(d >= 1 && ds.document_indices_[0] == 0, "{}: document indices must start at 0", idx_path);
  for (uint64_t k = 1; k < d; ++k) {
    STRAND_CHECK(ds.document_indices_[k] >= ds.document_indices_[k - 1],
                 "{}: document indices decrease at {} ({} after {})", idx_path, k, ds.document_indices_[k],
                 ds.document_indices_[k - 1]);
  }
  STRAND_CHECK(static_cast<uint64_t>(ds.document_indices_[d - 1]) == n,
               "{}: the last document index is {}, expected the sequence count {}", idx_path,
               ds.document_indices_[d - 1], n);

  const int fd = ::open(bin_path.c_str(), O_RDONLY | O_CLOEXEC);
  STRAND_CHECK(fd >= 0, "{}: cannot open: {}", bin_path, std::strerror(errno));
  struct stat st {};
  const int rc = ::fstat(fd, &st);
  if (rc != 0) ::close(fd);
  STRAND_CHECK(rc == 0, "{}: cannot stat: {}", bin_path, std::strerror(errno));
  ds.bin_size_ = static_cast<uint64_t>(st.st_size);
  if (ds.bin_size_ != expected_pointer) {
    ::close(fd);
    STRAND_CHECK(false, "{}: size {} bytes, but {} describes {} bytes ({} tokens of {})", bin_path,
                 ds.bin_size_, idx_path, expected_pointer, expected_pointer / item, dtype_name(ds.dtype_));
  }
  if (ds.bin_size_ > 0) {
    void* map = ::mmap(nullptr, ds.bin_size_, PROT_READ, MAP_SHARED, fd, 0);
    const int saved = errno;
    ::close(fd);
    STRAND_CHECK(map != MAP_FAILED, "{}: mmap failed: {}", bin_path, std::strerror(saved));
    const uint64_t size = ds.bin_size_;
    ds.bin_ =
        std::shared_ptr<const void>(map, [size](const void* p) { ::munmap(const_cast<void*>(p), size); });
  } else {
    ::close(fd);
  }
  return ds;
}

std::vector<int32_t> IndexedDataset::get(uint64_t i) const {
  STRAND_CHECK(i < size(), "{}: sequence {} out of range (the dataset has {})", prefix_, i, size());
  std::vector<int32_t> out;
  out.reserve(length(i));
  read(i, 0, length(i), out);
  return out;
}

void IndexedDataset::read(uint64_t i, uint64_t start, uint64_t count, std::vector<int32_t>& out) const {
  STRAND_CHECK(i < size(), "{}: sequence {} out of range (the dataset has {})", prefix_, i, size());
  STRAND_CHECK(start <= length(i) && count <= length(i) - start,
               "{}: tokens [{}, {}) out of range for sequence {} of {} tokens", prefix_, start, start + count,
               i, length(i));
  const auto n = static_cast<size_t>(count);
  if (n == 0) return;
  const char* p = static_cast<const char*>(bin_.get()) + pointers_[i] + start * dtype_size(dtype_);
  const std::string bin_path = prefix_ + ".bin";
  switch (dtype_) {
    case DType::U8:
      read_tokens<uint8_t>(p, n, out, bin_path, i, start);
      break;
    case DType::I8:
      read_tokens<int8_t>(p, n, out, bin_path, i, start);
      break;
    case DType::I16:
      read_tokens<int16_t>(p, n, out, bin_path, i, start);
      break;
    case DType::U16:
      read_tokens<uint16_t>(p, n, out, bin_path, i, start);
      break;
    case DType::I32:
      read_tokens<int32_t>(p, n, out, bin_path, i, start);
      break;
    case DType::I64:
      read_tokens<int64_t>(p, n, out, bin_path, i, start);
      break;
    default:
      STRAND_ASSERT(false);
  }
}

uint64_t IndexedDataset::total_tokens() const {
  uint64_t total = 0;
  for (const int32_t len : lengths_) total += static_cast<uint64_t>(len);
  return total;
}

}  // namespace strand::data
