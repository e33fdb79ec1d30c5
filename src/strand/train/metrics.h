// Where training metrics go: the console, a JSONL file, and a TensorBoard event file, behind one interface.
//
// A record is a step and named scalars. Names are "<group>/<name>"; the console knows these and lays them out
// in this order: train/loss, train/lr, train/grad_norm, train/tokens_per_s, train/step_time_s, val/loss,
// val/ppl, val/bits_per_base. Any other name is logged too, after the known ones, in name order.
//
// Sinks are not thread-safe: one thread (rank 0 in a distributed run) writes them. File sinks flush every
// record, so a run that is killed keeps everything it logged; their errors are strand::Error naming the file.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace strand {

// One logged record: a step and named scalars ("train/loss", "train/lr", "val/loss", ...).
struct MetricRecord {
  int64_t step = 0;
  double wall_time = 0;  // seconds since the epoch; 0 (unset): MetricLogger::write fills in the current time
  std::map<std::string, double> scalars;
};

class MetricSink {
 public:
  virtual ~MetricSink() = default;
  virtual void write(const MetricRecord& record) = 0;
  virtual void flush() = 0;
};

// Appends one JSON object per record: {"step": 10, "time": 1.7e9, "train/loss": 1.5, ...}, with "step" and
// "time" first and the scalars in name order. Flushed per record, so a killed run keeps every line it logged;
// an existing file is appended to (resumed runs continue it), after a newline if its last line was cut short.
// JSON has no NaN or infinity: a non-finite value is written as null. Missing parent directories are created.
// REQUIRES: no scalar is named "step" or "time" (write throws strand::Error).
std::unique_ptr<MetricSink> make_jsonl_sink(const std::string& path);

// A TensorBoard event file events.out.tfevents.<time>.<host>.<pid>.<n> in `dir` (record framing with masked
// CRC-32C, a first file_version event, one scalar summary per value), readable by TensorBoard's
// EventAccumulator. `dir` is created if missing; <time> is the 10-digit Unix time at creation and <n> a
// per-process counter, so every sink writes a file of its own. Each record becomes one Event holding all its
// scalars (as 32-bit floats, TensorBoard's simple_value); a record without scalars writes nothing.
std::unique_ptr<MetricSink> make_tensorboard_sink(const std::string& dir);

// The console: on a terminal, one live progress line (step/total, loss, lr, tokens/s, ETA) rewritten in
// place, with evaluation results on their own lines; otherwise plain lines, one per record. `total_steps` for
// the ETA.
//
// Terminal:     step 120/1000 | loss 1.2345 | lr 3.0e-04 | grad_norm 0.853 | 12.3k tok/s | eta 1m23s
//               step 200/1000 | val/loss 1.1000 | val/ppl 3.004 | val/bits_per_base 1.5870
// Not terminal: step 120/1000 loss 1.2345 lr 3.0e-04 grad_norm 0.853 tokens/s 12345 eta 1m23s
//
// Names in the "train/" group are shown without the group; "val/" scalars go on a line of their own on a
// terminal (after a newline, so the progress line above stays). The ETA comes from the average rate of steps
// since the first record (by wall_time); it is left out until two records with different steps and times have
// been seen, for records holding only val/ scalars, and when `total_steps` <= 0 (then "step 120" without a
// total). Writes to stdout and flushes it per record.
std::unique_ptr<MetricSink> make_console_sink(int64_t total_steps, bool is_terminal);
// The same, writing to `out` instead of stdout. REQUIRES: `out` outlives the sink (which does not close it).
std::unique_ptr<MetricSink> make_console_sink(int64_t total_steps, bool is_terminal, std::FILE* out);

// Fans records out to several sinks.
class MetricLogger {
 public:
  void add(std::unique_ptr<MetricSink> sink) { sinks_.push_back(std::move(sink)); }
  // Writes `record` to every sink, in the order they were added, with wall_time set to now if it is 0. If
  // sinks throw, every sink is still written and the first error is rethrown afterwards.
  void write(const MetricRecord& record);
  void flush();

 private:
  std::vector<std::unique_ptr<MetricSink>> sinks_;
};

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) and TensorBoard's masking of it, exposed for tests.
// crc32c("123456789") == 0xE3069283. crc32c_extend continues a CRC over more bytes:
// crc32c_extend(crc32c(a), b) == crc32c(a followed by b), and crc32c(x) == crc32c_extend(0, x).
uint32_t crc32c(const void* data, size_t size);
uint32_t crc32c_extend(uint32_t crc, const void* data, size_t size);
// ((c >> 15) | (c << 17)) + 0xa282ead8 of c = crc32c(data), in 32-bit arithmetic.
uint32_t masked_crc32c(const void* data, size_t size);

// The bytes of a TensorBoard event file (see shared/specs/formats.md), exposed for tests. Events are the
// protobuf encodings that protobuf's own serializer produces for tensorflow.Event (fields that hold their
// default value, such as step 0, are left out).
namespace tensorboard {

// Event{wall_time (1, double), file_version (3, "brain.Event:2")}: the first record of every file.
std::string file_version_event(double wall_time);

// Event{wall_time (1), step (2, varint), summary (5){value (1, one per scalar in name order){tag (1),
// simple_value (2, float)}}}. Values beyond the float range become +-infinity.
std::string scalar_event(const MetricRecord& record);

// One record of the file: u64 LE length, u32 LE masked_crc32c of those 8 bytes, `data`, u32 LE
// masked_crc32c(data).
std::string frame_record(std::string_view data);

}  // namespace tensorboard

}  // namespace strand
