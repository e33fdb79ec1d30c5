#include "strand/core/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <utility>

namespace strand {
namespace {

// Often enough to look alive, seldom enough that drawing costs nothing next to the work.
constexpr std::chrono::milliseconds kRedrawInterval{250};

// "45s", "3m07s", "2h05m": the precision a wait is felt in.
std::string duration_text(double seconds) {
  const auto s = static_cast<int64_t>(std::llround(seconds));
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
}

// Two or three significant figures: "0.25", "3.1", "42.0", "1234".
std::string rate_text(double rate) {
  if (rate < 1) return fmt::format("{:.2f}", rate);
  if (rate < 100) return fmt::format("{:.1f}", rate);
  return fmt::format("{:.0f}", rate);
}

}  // namespace

std::string progress_line(const std::string& label, const std::string& unit, int64_t done, int64_t total,
                          double seconds) {
  const double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0.0;
  std::string line = total >= 0 ? fmt::format("{}: {}/{} {}", label, done, total, unit)
                                : fmt::format("{}: {} {}", label, done, unit);
  if (total > 0) line += fmt::format(" ({}%)", done * 100 / total);
  if (done > 0 && seconds > 0) line += fmt::format(", {} {}/s", rate_text(rate), unit);
  if (total >= 0 && done > 0 && rate > 0 && done <= total)
    line += fmt::format(", ETA {}", duration_text(static_cast<double>(total - done) / rate));
  return line;
}

Progress::Progress(std::string label, std::string unit)
    : Progress(std::move(label), std::move(unit), stderr, ::isatty(STDERR_FILENO) == 1) {}

Progress::Progress(std::string label, std::string unit, std::FILE* out, bool terminal)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      out_(terminal ? out : nullptr),
      start_(std::chrono::steady_clock::now()) {}

Progress::~Progress() {
  finish();
}

void Progress::advance(int64_t n) {
  done_ += n;
  if (out_ == nullptr) return;
  const auto now = std::chrono::steady_clock::now();
  if (drawn_ && now - last_draw_ < kRedrawInterval) return;
  last_draw_ = now;
  draw();
}

void Progress::draw() {
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  // "\r" returns to the line's start and "\x1b[K" erases what a longer previous line left.
  fmt::print(out_, "\r{}\x1b[K",
             progress_line(label_, unit_, done_, total_.load(std::memory_order_relaxed), seconds));
  std::fflush(out_);
  drawn_ = true;
}

void Progress::finish() {
  if (out_ == nullptr) return;
  if (drawn_) {
    fmt::print(out_, "\r\x1b[K");
    std::fflush(out_);
  }
  out_ = nullptr;
}

}  // namespace strand
