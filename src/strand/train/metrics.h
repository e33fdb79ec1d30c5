// Where training metrics go: the console, a JSONL file, and a TensorBoard event file, behind one interface.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace strand {

// One logged record: a step and named scalars ("train/loss", "train/lr", "val/loss", ...).
struct MetricRecord {
  int64_t step = 0;
  double wall_time = 0;  // seconds since the epoch
  std::map<std::string, double> scalars;
};

class MetricSink {
 public:
  virtual ~MetricSink() = default;
  virtual void write(const MetricRecord& record) = 0;
  virtual void flush() = 0;
};

// Appends one JSON object per record: {"step": 10, "time": 1.7e9, "train/loss": 1.5, ...}. Flushed per record,
// so a killed run keeps every line it logged; an existing file is appended to (resumed runs continue it).
std::unique_ptr<MetricSink> make_jsonl_sink(const std::string& path);

// A TensorBoard event file events.out.tfevents.<time>.<host>.<pid>.<n> in `dir` (record framing with masked
// CRC-32C, a first file_version event, one scalar summary per value), readable by TensorBoard's EventAccumulator.
std::unique_ptr<MetricSink> make_tensorboard_sink(const std::string& dir);

// The console: on a terminal, one live progress line (step/total, loss, lr, tokens/s, ETA) rewritten in place,
// with evaluation results on their own lines; otherwise plain lines, one per record. `total_steps` for the ETA.
std::unique_ptr<MetricSink> make_console_sink(int64_t total_steps, bool is_terminal);

// Fans records out to several sinks.
class MetricLogger {
 public:
  void add(std::unique_ptr<MetricSink> sink) { sinks_.push_back(std::move(sink)); }
  void write(const MetricRecord& record);
  void flush();

 private:
  std::vector<std::unique_ptr<MetricSink>> sinks_;
};

// CRC-32C (Castagnoli) and TensorBoard's masking of it, exposed for tests.
uint32_t crc32c(const void* data, size_t size);
uint32_t masked_crc32c(const void* data, size_t size);

}  // namespace strand
