// The TensorBoard sink: a hand-written encoder for the three protobuf messages an event file of scalars needs
// (tensorflow.Event, Summary, Summary.Value) and TFRecord framing.
#include "strand/core/error.h"
#include "strand/train/metrics.h"

#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <limits>
#include <system_error>

namespace strand {
namespace tensorboard {
namespace {

// Protobuf wire types.
constexpr uint32_t kVarint = 0;
constexpr uint32_t kFixed64 = 1;
constexpr uint32_t kLengthDelimited = 2;
constexpr uint32_t kFixed32 = 5;

// Field numbers of tensorflow.Event, Summary and Summary.Value.
constexpr uint32_t kEventWallTime = 1;     // double
constexpr uint32_t kEventStep = 2;         // int64
constexpr uint32_t kEventFileVersion = 3;  // string
constexpr uint32_t kEventSummary = 5;      // Summary
constexpr uint32_t kSummaryValue = 1;      // repeated Value
constexpr uint32_t kValueTag = 1;          // string
constexpr uint32_t kValueSimpleValue = 2;  // float (a oneof member: written even when 0)

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void put_key(std::string& out, uint32_t field, uint32_t wire_type) {
  put_varint(out, (uint64_t{field} << 3) | wire_type);
}

// Little-endian bytes whatever the host's order.
void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

void put_double(std::string& out, uint32_t field, double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  put_key(out, field, kFixed64);
  put_le(out, bits, 8);
}

void put_float(std::string& out, uint32_t field, float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  put_key(out, field, kFixed32);
  put_le(out, bits, 4);
}

// int64 fields are varints of the two's-complement bits (10 bytes for a negative value).
void put_int64(std::string& out, uint32_t field, int64_t v) {
  put_key(out, field, kVarint);
  put_varint(out, static_cast<uint64_t>(v));
}

// Strings and embedded messages.
void put_bytes(std::string& out, uint32_t field, std::string_view bytes) {
  put_key(out, field, kLengthDelimited);
  put_varint(out, bytes.size());
  out.append(bytes);
}

// static_cast to float of a finite double beyond the float range is undefined; saturate to infinity instead.
float to_float(double v) {
  constexpr double kMax = std::numeric_limits<float>::max();
  if (std::isfinite(v) && std::fabs(v) > kMax) {
    return v > 0 ? std::numeric_limits<float>::infinity() : -std::numeric_limits<float>::infinity();
  }
  return static_cast<float>(v);
}

}  // namespace

std::string file_version_event(double wall_time) {
  std::string event;
  if (wall_time != 0) put_double(event, kEventWallTime, wall_time);
  put_bytes(event, kEventFileVersion, "brain.Event:2");
  return event;
}

std::string scalar_event(const MetricRecord& record) {
  std::string summary;
  std::string value;
  for (const auto& [tag, v] : record.scalars) {
    value.clear();
    put_bytes(value, kValueTag, tag);
    put_float(value, kValueSimpleValue, to_float(v));
    put_bytes(summary, kSummaryValue, value);
  }
  std::string event;
  if (record.wall_time != 0) put_double(event, kEventWallTime, record.wall_time);
  if (record.step != 0) put_int64(event, kEventStep, record.step);
  put_bytes(event, kEventSummary, summary);
  return event;
}

std::string frame_record(std::string_view data) {
  std::string out;
  out.reserve(data.size() + 16);
  put_le(out, data.size(), 8);
  put_le(out, masked_crc32c(out.data(), 8), 4);
  out.append(data);
  put_le(out, masked_crc32c(data.data(), data.size()), 4);
  return out;
}

}  // namespace tensorboard

namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

class TensorBoardSink final : public MetricSink {
 public:
  explicit TensorBoardSink(const std::string& dir) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    STRAND_CHECK(!ec, "cannot create TensorBoard directory {}: {}", dir, ec.message());
    // Unique within the process by the counter and across processes by the pid; "x" (O_EXCL) also keeps
    // a file from another host of the same name, or from an earlier process with a recycled pid, intact.
    static std::atomic<uint64_t> counter{0};
    const long long seconds = static_cast<long long>(std::time(nullptr));
    const std::string host = host_name();
    for (int attempt = 0; attempt < 100 && !file_; ++attempt) {
      path_ = (std::filesystem::path(dir) / fmt::format("events.out.tfevents.{:010d}.{}.{}.{}", seconds, host,
                                                        ::getpid(), counter.fetch_add(1)))
                  .string();
      std::FILE* f = std::fopen(path_.c_str(), "wbx");
      const int err = errno;
      STRAND_CHECK(f != nullptr || err == EEXIST, "cannot create TensorBoard event file {}: {}", path_,
                   std::strerror(err));
      file_.reset(f);
    }
    STRAND_CHECK(file_ != nullptr,
                 "cannot create a TensorBoard event file in {}: every candidate name exists", dir);
    append(tensorboard::file_version_event(now_seconds()));
  }

  void write(const MetricRecord& record) override {
    if (!record.scalars.empty()) append(tensorboard::scalar_event(record));
  }

  void flush() override {
    STRAND_CHECK(std::fflush(file_.get()) == 0, "{}: flush failed: {}", path_, std::strerror(errno));
  }

 private:
  void append(std::string_view event) {
    const std::string record = tensorboard::frame_record(event);
    STRAND_CHECK(std::fwrite(record.data(), 1, record.size(), file_.get()) == record.size(),
                 "{}: write failed: {}", path_, std::strerror(errno));
    flush();
  }

  std::string path_;
  std::unique_ptr<std::FILE, FileCloser> file_;
};

}  // namespace

std::unique_ptr<MetricSink> make_tensorboard_sink(const std::string& dir) {
  return std::make_unique<TensorBoardSink>(dir);
}

}  // namespace strand
