#include "strand/io/safetensors.h"

#include "strand/core/error.h"
#include "strand/core/json.h"
#include "strand/io/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <optional>
#include <tuple>
#include <unordered_set>

namespace strand::io {

// The format is little-endian and tensor bytes are copied as they are.
static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian host");

class SafetensorsFile::Descriptor {
 public:
  explicit Descriptor(int fd) : fd_(fd) {}
  ~Descriptor() { ::close(fd_); }
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;

  // pread is positional, so concurrent reads of one descriptor need no lock.
  void read_exact(void* dst, uint64_t size, uint64_t offset) const {
    char* p = static_cast<char*>(dst);
    while (size > 0) {
      // Linux transfers at most about 2 GiB per call; ask for 1 GiB at a time.
      const size_t chunk = static_cast<size_t>(std::min<uint64_t>(size, uint64_t{1} << 30));
      const ssize_t n = ::pread(fd_, p, chunk, static_cast<off_t>(offset));
      if (n < 0 && errno == EINTR) continue;
      STRAND_CHECK(n >= 0, "read at byte {} failed: {}", offset, std::strerror(errno));
      STRAND_CHECK(n > 0, "unexpected end of file at byte {} (was the file changed after it was opened?)",
                   offset);
      p += n;
      size -= static_cast<uint64_t>(n);
      offset += static_cast<uint64_t>(n);
    }
  }

 private:
  int fd_;
};

namespace {

constexpr const char* kMetadataKey = "__metadata__";

// A JSON integer >= 0 as uint64; nullopt for negatives, fractions, strings and integers beyond 64 bits (which
// nlohmann::json stores as floats).
std::optional<uint64_t> as_u64(const nlohmann::json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer() && v.get<int64_t>() >= 0) return static_cast<uint64_t>(v.get<int64_t>());
  return std::nullopt;
}

std::string json_shape_str(const nlohmann::json& shape) {
  std::string s = shape.dump();
  return s.size() <= 80 ? s : s.substr(0, 77) + "...";
}

Shape parse_shape(const nlohmann::json& entry, const std::string& where, DType dtype, uint64_t& nbytes) {
  const auto it = entry.find("shape");
  STRAND_CHECK(it != entry.end(), "{}: missing \"shape\"", where);
  STRAND_CHECK(it->is_array(), "{}: \"shape\" is {}, not an array", where, it->type_name());
  STRAND_CHECK(it->size() <= static_cast<size_t>(Shape::kMaxDims),
               "{}: shape has {} dimensions, more than {}", where, it->size(), Shape::kMaxDims);
  Shape shape;
  // Multiplied in order, as Shape::numel does, so every partial product is known to fit int64.
  uint64_t numel = 1;
  uint64_t bytes = dtype_size(dtype);
  for (const nlohmann::json& d : *it) {
    STRAND_CHECK(!d.is_number_integer() || d.is_number_unsigned() || d.get<int64_t>() >= 0,
                 "{}: shape {} has a negative extent", where, json_shape_str(*it));
    const std::optional<uint64_t> extent = as_u64(d);
    STRAND_CHECK(extent.has_value(), "{}: shape {} has an extent that is not an integer", where,
                 json_shape_str(*it));
    const bool overflow = *extent > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
                          __builtin_mul_overflow(numel, *extent, &numel) ||
                          numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
                          __builtin_mul_overflow(bytes, *extent, &bytes);
    STRAND_CHECK(!overflow, "{}: shape {} is too large: its byte size overflows 64 bits", where,
                 json_shape_str(*it));
    shape.push_back(static_cast<int64_t>(*extent));
  }
  nbytes = bytes;
  return shape;
}

TensorInfo parse_entry(const std::string& name, const nlohmann::json& entry, uint64_t buffer_size) {
  const std::string where = fmt::format("tensor '{}'", printable(name));
  STRAND_CHECK(entry.is_object(), "{}: entry is {}, not an object", where, entry.type_name());
  TensorInfo info;
  info.name = name;

  const auto dt = entry.find("dtype");
  STRAND_CHECK(dt != entry.end(), "{}: missing \"dtype\"", where);
  STRAND_CHECK(dt->is_string(), "{}: \"dtype\" is {}, not a string", where, dt->type_name());
  const std::string& dtype_str = dt->get_ref<const std::string&>();
  const std::optional<DType> dtype = dtype_from_name(dtype_str);
  STRAND_CHECK(dtype.has_value(), "{}: unknown dtype '{}'", where, printable(dtype_str));
  info.dtype = *dtype;

  uint64_t nbytes = 0;
  info.shape = parse_shape(entry, where, info.dtype, nbytes);

  const auto off = entry.find("data_offsets");
  STRAND_CHECK(off != entry.end(), "{}: missing \"data_offsets\"", where);
  STRAND_CHECK(off->is_array() && off->size() == 2, "{}: \"data_offsets\" is not a pair [begin, end]", where);
  const std::optional<uint64_t> begin = as_u64((*off)[0]), end = as_u64((*off)[1]);
  STRAND_CHECK(begin.has_value() && end.has_value(),
               "{}: \"data_offsets\" {} are not two non-negative integers", where, off->dump());
  STRAND_CHECK(*begin <= *end, "{}: data_offsets [{}, {}] end before they begin", where, *begin, *end);
  STRAND_CHECK(*end - *begin == nbytes, "{}: data_offsets [{}, {}] span {} bytes, but {}{} takes {}", where,
               *begin, *end, *end - *begin, dtype_str, info.shape.str(), nbytes);
  STRAND_CHECK(*end <= buffer_size,
               "{}: data_offsets [{}, {}] go beyond the {}-byte data buffer (truncated file?)", where, *begin,
               *end, buffer_size);
  info.begin = *begin;
  info.end = *end;
  return info;
}

std::map<std::string, std::string> parse_metadata(const nlohmann::json& value) {
  STRAND_CHECK(value.is_object(), "\"{}\" is {}, not an object", kMetadataKey, value.type_name());
  std::map<std::string, std::string> metadata;
  for (const auto& [key, v] : value.items()) {
    STRAND_CHECK(v.is_string(), "\"{}\" value of '{}' is {}, not a string", kMetadataKey, printable(key),
                 v.type_name());
    metadata.emplace(key, v.get<std::string>());
  }
  return metadata;
}

// The spec requires the ranges, sorted, to tile [0, buffer_size) exactly: no overlap, no gap, nothing after.
void check_coverage(const std::vector<TensorInfo>& sorted, uint64_t buffer_size) {
  uint64_t covered = 0;
  const TensorInfo* prev = nullptr;
  for (const TensorInfo& t : sorted) {
    STRAND_CHECK(t.begin >= covered, "tensor '{}' (bytes {}..{}) overlaps tensor '{}' (bytes {}..{})",
                 printable(t.name), t.begin, t.end, printable(prev->name), prev->begin, prev->end);
    if (prev == nullptr) {
      STRAND_CHECK(t.begin == 0,
                   "data buffer starts with {} bytes that belong to no tensor (first tensor '{}')", t.begin,
                   printable(t.name));
    } else {
      STRAND_CHECK(t.begin == covered,
                   "{} bytes between tensor '{}' (ends at {}) and tensor '{}' belong to no tensor",
                   t.begin - covered, printable(prev->name), covered, printable(t.name));
    }
    covered = t.end;
    prev = &t;
  }
  STRAND_CHECK(covered == buffer_size, "{} trailing bytes after the last tensor's data (buffer is {} bytes)",
               buffer_size - covered, buffer_size);
}

uint64_t load_le64(const std::array<unsigned char, 8>& b) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | b[static_cast<size_t>(i)];
  return v;
}

}  // namespace

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  try {
    SafetensorsFile f;
    f.path_ = path;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    STRAND_CHECK(fd >= 0, "cannot open: {}", std::strerror(errno));
    f.file_ = std::make_shared<const Descriptor>(fd);
    struct stat st {};
    STRAND_CHECK(::fstat(fd, &st) == 0, "cannot stat: {}", std::strerror(errno));
    STRAND_CHECK(S_ISREG(st.st_mode), "not a regular file");
    const auto file_size = static_cast<uint64_t>(st.st_size);
    STRAND_CHECK(file_size >= 8, "file is {} bytes, too short for the 8-byte header length", file_size);

    std::array<unsigned char, 8> length_bytes{};
    f.file_->read_exact(length_bytes.data(), 8, 0);
    const uint64_t header_size = load_le64(length_bytes);
    STRAND_CHECK(header_size <= kMaxHeaderBytes, "header length {} exceeds the {}-byte limit", header_size,
                 kMaxHeaderBytes);
    STRAND_CHECK(header_size <= file_size - 8, "header length {} goes beyond the end of the {}-byte file",
                 header_size, file_size);
    std::string header(header_size, '\0');
    f.file_->read_exact(header.data(), header_size, 8);
    f.data_start_ = 8 + header_size;
    const uint64_t buffer_size = file_size - f.data_start_;

    STRAND_CHECK(!header.empty() && header.front() == '{', "header does not start with '{{'");
    nlohmann::json root;
    try {
      root = parse_json_strict(header);
    } catch (const Error& e) {
      rethrow_with_context(e, "header");
    }
    STRAND_ASSERT(root.is_object());  // valid JSON starting with '{'
    for (const auto& [key, value] : root.items()) {
      if (key == kMetadataKey) {
        f.metadata_ = parse_metadata(value);
      } else {
        f.tensors_.push_back(parse_entry(key, value, buffer_size));
      }
    }
    std::sort(f.tensors_.begin(), f.tensors_.end(), [](const TensorInfo& a, const TensorInfo& b) {
      return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
    });
    check_coverage(f.tensors_, buffer_size);
    for (size_t i = 0; i < f.tensors_.size(); ++i) f.index_.emplace(f.tensors_[i].name, i);
    return f;
  } catch (const Error& e) {
    rethrow_with_context(e, path);
  }
}

const TensorInfo& SafetensorsFile::info(const std::string& name) const {
  const auto it = index_.find(name);
  STRAND_CHECK(it != index_.end(), "{}: no tensor '{}'", path_, printable(name));
  return tensors_[it->second];
}

Tensor SafetensorsFile::read(const std::string& name) const {
  const TensorInfo& t = info(name);
  try {
    Tensor out = Tensor::empty(t.shape, t.dtype);
    file_->read_exact(out.raw(), t.nbytes(), data_start_ + t.begin);
    return out;
  } catch (const Error& e) {
    rethrow_with_context(e, fmt::format("{}: tensor '{}'", path_, printable(name)));
  }
}

void save_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::string header;
  try {
    // ordered_json keeps insertion order, so the header lists tensors in the order of their data.
    nlohmann::ordered_json root = nlohmann::ordered_json::object();
    if (!metadata.empty()) root[kMetadataKey] = metadata;
    std::unordered_set<std::string_view> seen;
    uint64_t offset = 0;
    for (const NamedTensor& nt : tensors) {
      const std::string where = fmt::format("tensor '{}'", printable(nt.name));
      STRAND_CHECK(nt.name != kMetadataKey, "{}: the name is reserved for metadata", where);
      STRAND_CHECK(seen.insert(nt.name).second, "{}: duplicate name", where);
      STRAND_CHECK(nt.tensor.defined(), "{}: undefined tensor", where);
      STRAND_CHECK(nt.tensor.is_cpu(), "{}: {} is not on the host", where, nt.tensor.str());
      nlohmann::ordered_json shape = nlohmann::ordered_json::array();
      for (const int64_t d : nt.tensor.shape()) shape.push_back(d);
      const uint64_t end = offset + nt.tensor.nbytes();
      root[nt.name] = {{"dtype", dtype_name(nt.tensor.dtype())},
                       {"shape", std::move(shape)},
                       {"data_offsets", nlohmann::ordered_json::array({offset, end})}};
      offset = end;
    }
    try {
      header = root.dump();
    } catch (const nlohmann::json::exception& e) {
      throw Error(fmt::format("a tensor name or metadata string is not valid UTF-8: {}", e.what()));
    }
    header.append((8 - header.size() % 8) % 8, ' ');
    STRAND_CHECK(header.size() <= kMaxHeaderBytes,
                 "header of {} bytes exceeds the {}-byte limit readers enforce", header.size(),
                 kMaxHeaderBytes);
  } catch (const Error& e) {
    rethrow_with_context(e, path);
  }

  std::array<unsigned char, 8> length_bytes{};
  for (size_t i = 0; i < 8; ++i) length_bytes[i] = static_cast<unsigned char>(header.size() >> (8 * i));
  AtomicFile file(path);
  file.write(length_bytes.data(), length_bytes.size());
  file.write(header);
  for (const NamedTensor& nt : tensors) {
    const Tensor data = nt.tensor.contiguous();
    file.write(data.raw(), data.nbytes());
  }
  file.commit();
}

}  // namespace strand::io
