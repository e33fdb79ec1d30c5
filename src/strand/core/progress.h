// A progress line for long work, for a person watching a terminal:
//   "strand score: 1200/5000 records (24%), 31.4 records/s, ETA 2m01s"
// redrawn in place (carriage return, erase to the end of the line) at most a few times a second, and erased
// when the work ends so that the summary printed after it starts on a clean line. Reporting to anything that
// is not a terminal (a pipe, a log file, a test's captured stderr) prints nothing at all, so scripts see only
// the commands' own output.
//
// The total may be unknown at first and arrive later from another thread (a background count of the input):
// until then the line shows the count and the rate without an ETA.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace strand {

// The text of one progress line: `done` of `total` `unit` (total < 0: unknown) after `seconds`.
// "strand embed: 30/120 records (25%), 1.5 records/s, ETA 1m00s"; "strand embed: 30 records, 1.5 records/s".
std::string progress_line(const std::string& label, const std::string& unit, int64_t done, int64_t total,
                          double seconds);

class Progress {
 public:
  // Reports on stderr when stderr is a terminal; does nothing otherwise.
  Progress(std::string label, std::string unit);
  // Reports on `out` as if it were a terminal when `terminal` (tests), nothing otherwise.
  Progress(std::string label, std::string unit, std::FILE* out, bool terminal);
  // Erases the line, as finish() does.
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Whether anything is shown: callers skip work that only feeds the line (counting the input).
  bool enabled() const { return out_ != nullptr; }
  // The amount of work in all; may be called from any thread, at any time.
  void set_total(int64_t total) { total_.store(total, std::memory_order_relaxed); }
  // `n` more units done; redraws the line when the last drawing is old enough (the first one at once).
  void advance(int64_t n = 1);
  // Erases the line. Later advances draw nothing.
  void finish();

 private:
  void draw();

  std::string label_, unit_;
  std::FILE* out_ = nullptr;  // null: not a terminal, nothing is shown
  std::atomic<int64_t> total_{-1};
  int64_t done_ = 0;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace strand
