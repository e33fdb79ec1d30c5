// MetricLogger and the JSONL sink. The TensorBoard sink is in metrics_tensorboard.cpp, the console sink in
// metrics_console.cpp, CRC-32C in crc32c.cpp.
#include "strand/train/metrics.h"

#include "strand/core/error.h"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <system_error>

namespace strand {
namespace {

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

// True if `path` exists, is not empty, and does not end with a newline (a line cut short by a killed run).
bool ends_mid_line(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in || in.tellg() <= 0) return false;
  in.seekg(-1, std::ios::end);
  char last = '\n';
  in.get(last);
  return in && last != '\n';
}

class JsonlSink final : public MetricSink {
 public:
  explicit JsonlSink(std::string path) : path_(std::move(path)) {
    STRAND_CHECK(!path_.empty(), "cannot write metrics to a JSONL file with an empty path");
    const std::filesystem::path parent = std::filesystem::path(path_).parent_path();
    if (!parent.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(parent, ec);
      STRAND_CHECK(!ec, "{}: cannot create directory {}: {}", path_, parent.string(), ec.message());
    }
    const bool needs_newline = ends_mid_line(path_);
    file_.reset(std::fopen(path_.c_str(), "ab"));
    const int err = errno;
    STRAND_CHECK(file_ != nullptr, "cannot open metrics file {} for appending: {}", path_,
                 std::strerror(err));
    if (needs_newline) append("\n");
  }

  void write(const MetricRecord& record) override {
    nlohmann::ordered_json line;
    line["step"] = record.step;
    line["time"] = record.wall_time;
    for (const auto& [name, value] : record.scalars) {
      STRAND_CHECK(name != "step" && name != "time",
                   "{}: a metric cannot be named \"{}\": the name is taken by the record's own field", path_,
                   name);
      // nlohmann::json would write null for these as well; saying so keeps the rule visible.
      if (std::isfinite(value)) {
        line[name] = value;
      } else {
        line[name] = nullptr;
      }
    }
    append(line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  }

  void flush() override {
    STRAND_CHECK(std::fflush(file_.get()) == 0, "{}: flush failed: {}", path_, std::strerror(errno));
  }

 private:
  void append(const std::string& text) {
    STRAND_CHECK(std::fwrite(text.data(), 1, text.size(), file_.get()) == text.size(), "{}: write failed: {}",
                 path_, std::strerror(errno));
    flush();
  }

  std::string path_;
  std::unique_ptr<std::FILE, FileCloser> file_;
};

}  // namespace

std::unique_ptr<MetricSink> make_jsonl_sink(const std::string& path) {
  return std::make_unique<JsonlSink>(path);
}

void MetricLogger::write(const MetricRecord& record) {
  const MetricRecord* r = &record;
  MetricRecord timed;
  if (record.wall_time == 0) {
    timed = record;
    timed.wall_time =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    r = &timed;
  }
  std::exception_ptr first_error;
  for (const auto& sink : sinks_) {
    try {
      sink->write(*r);
    } catch (...) {
      if (!first_error) first_error = std::current_exception();
    }
  }
  if (first_error) std::rethrow_exception(first_error);
}

void MetricLogger::flush() {
  std::exception_ptr first_error;
  for (const auto& sink : sinks_) {
    try {
      sink->flush();
    } catch (...) {
      if (!first_error) first_error = std::current_exception();
    }
  }
  if (first_error) std::rethrow_exception(first_error);
}

}  // namespace strand
