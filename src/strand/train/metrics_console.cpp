// The console sink: a live progress line on a terminal, plain lines elsewhere (log files, pipes, CI).
#include "strand/core/error.h"
#include "strand/train/metrics.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <string_view>
#include <vector>

namespace strand {
namespace {

// 12345 -> "12.3k"; the unit is chosen after rounding, so 999960 is "1.0M" rather than "1000.0k".
std::string human_count(double v) {
  if (!std::isfinite(v)) return fmt::format("{}", v);
  const double a = std::fabs(v);
  if (a < 999.5) return fmt::format("{:.0f}", v);
  if (a < 999.95e3) return fmt::format("{:.1f}k", v / 1e3);
  if (a < 999.95e6) return fmt::format("{:.1f}M", v / 1e6);
  return fmt::format("{:.1f}G", v / 1e9);
}

// 83 -> "1m23s"; 7500 -> "2h05m"; 273600 -> "3d04h".
std::string human_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long long s = std::llround(seconds);
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  if (s < 86400) return fmt::format("{}h{:02}m", s / 3600, s % 3600 / 60);
  return fmt::format("{}d{:02}h", s / 86400, s % 86400 / 3600);
}

bool is_val(std::string_view name) {
  return name.starts_with("val/");
}

// How one scalar is shown: "<label> <value>", in the order of kKnown, then the other names in name order.
struct Known {
  std::string_view name;
  std::string_view label;
  std::string_view format;  // for the value
};
constexpr Known kKnown[] = {
    {"train/loss", "loss", "{:.4f}"},
    {"train/lr", "lr", "{:.1e}"},
    {"train/grad_norm", "grad_norm", "{:.3f}"},
    {"train/tokens_per_s", "", ""},  // special: "12.3k tok/s" or "tokens/s 12345"
    {"train/step_time_s", "step_time", "{:.3f}s"},
    {"val/loss", "val/loss", "{:.4f}"},
    {"val/ppl", "val/ppl", "{:.3f}"},
    {"val/bits_per_base", "val/bits_per_base", "{:.4f}"},
};

std::string format_scalar(std::string_view name, double value, bool terminal) {
  if (name == "train/tokens_per_s") {
    return terminal ? human_count(value) + " tok/s" : fmt::format("tokens/s {:.0f}", value);
  }
  for (const Known& k : kKnown) {
    if (k.name == name) return fmt::format("{} {}", k.label, fmt::format(fmt::runtime(k.format), value));
  }
  const std::string_view label = name.starts_with("train/") ? name.substr(6) : name;
  return fmt::format("{} {:.6g}", label, value);
}

// The scalars of `record` that `select` accepts, formatted, in display order.
template <typename Select>
std::vector<std::string> format_scalars(const MetricRecord& record, bool terminal, Select select) {
  std::vector<std::string> parts;
  for (const Known& k : kKnown) {
    const auto it = record.scalars.find(std::string(k.name));
    if (it != record.scalars.end() && select(it->first))
      parts.push_back(format_scalar(k.name, it->second, terminal));
  }
  for (const auto& [name, value] : record.scalars) {
    bool known = false;
    for (const Known& k : kKnown) known = known || k.name == name;
    if (!known && select(name)) parts.push_back(format_scalar(name, value, terminal));
  }
  return parts;
}

class ConsoleSink final : public MetricSink {
 public:
  ConsoleSink(int64_t total_steps, bool is_terminal, std::FILE* out)
      : total_steps_(total_steps), terminal_(is_terminal), out_(out) {
    STRAND_CHECK(out_ != nullptr, "the console metrics sink needs an output stream");
  }

  ~ConsoleSink() override {
    // Leave the shell prompt on a line of its own.
    if (line_open_) {
      std::fputc('\n', out_);
      std::fflush(out_);
    }
  }

  void write(const MetricRecord& record) override {
    bool has_val = false;
    bool has_other = false;
    for (const auto& [name, value] : record.scalars) (is_val(name) ? has_val : has_other) = true;
    const bool progress = has_other || !has_val;  // a record without scalars still shows the step
    const std::string step = total_steps_ > 0 ? fmt::format("step {}/{}", record.step, total_steps_)
                                              : fmt::format("step {}", record.step);
    const std::optional<double> eta = progress ? update_eta(record) : std::nullopt;

    if (!terminal_) {
      std::vector<std::string> parts = format_scalars(record, false, [](const std::string&) { return true; });
      if (eta) parts.push_back("eta " + human_duration(*eta));
      parts.insert(parts.begin(), step);
      std::fputs(fmt::format("{}\n", fmt::join(parts, " ")).c_str(), out_);
    } else {
      if (progress) {
        std::vector<std::string> parts =
            format_scalars(record, true, [](const std::string& name) { return !is_val(name); });
        if (eta) parts.push_back("eta " + human_duration(*eta));
        parts.insert(parts.begin(), step);
        std::string line = fmt::format("{}", fmt::join(parts, " | "));
        // '\r' returns to the start of the last screen row only: a line that wrapped could not be rewritten.
        const size_t width = terminal_width();
        if (width > 1 && line.size() > width - 1) line.resize(width - 1);
        std::fputs(("\r" + line + "\x1b[K").c_str(), out_);
        line_open_ = true;
      }
      if (has_val) {
        std::vector<std::string> parts = format_scalars(record, true, is_val);
        parts.insert(parts.begin(), step);
        std::fputs(fmt::format("{}{}\n", line_open_ ? "\n" : "", fmt::join(parts, " | ")).c_str(), out_);
        line_open_ = false;
      }
    }
    std::fflush(out_);
  }

  void flush() override { std::fflush(out_); }

 private:
  // Seconds left at the average rate since the first record; none until a rate is known.
  std::optional<double> update_eta(const MetricRecord& record) {
    if (!first_) {
      first_ = Mark{record.step, record.wall_time};
      return std::nullopt;
    }
    const double steps = static_cast<double>(record.step - first_->step);
    const double seconds = record.wall_time - first_->wall_time;
    if (total_steps_ <= 0 || steps <= 0 || seconds <= 0) return std::nullopt;
    return static_cast<double>(std::max<int64_t>(total_steps_ - record.step, 0)) * seconds / steps;
  }

  // Columns of the terminal `out_` is on; 0 if unknown.
  size_t terminal_width() const {
    struct winsize ws {};
    const int fd = ::fileno(out_);
    if (fd < 0 || ::ioctl(fd, TIOCGWINSZ, &ws) != 0) return 0;
    return ws.ws_col;
  }

  int64_t total_steps_;
  bool terminal_;
  std::FILE* out_;
  bool line_open_ = false;  // a progress line without its newline is on screen
  struct Mark {
    int64_t step;
    double wall_time;
  };
  std::optional<Mark> first_;  // the first progress record, which the ETA's rate is measured from
};

}  // namespace

std::unique_ptr<MetricSink> make_console_sink(int64_t total_steps, bool is_terminal, std::FILE* out) {
  return std::make_unique<ConsoleSink>(total_steps, is_terminal, out);
}

std::unique_ptr<MetricSink> make_console_sink(int64_t total_steps, bool is_terminal) {
  return make_console_sink(total_steps, is_terminal, stdout);
}

}  // namespace strand
