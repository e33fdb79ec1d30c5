#include "strand/train/loss_plot.h"

#include "strand/io/atomic_file.h"
#include "strand/train/png.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <optional>

namespace strand {
namespace {

struct Rgb {
  uint8_t r, g, b;
};

// 5x7 glyphs, a row per string ('#' set); upper case is drawn as lower case, unknown characters as '?'.
struct Glyph {
  char c;
  std::array<const char*, 7> rows;
};
constexpr Glyph kFont[] = {
    {' ', {".....", ".....", ".....", ".....", ".....", ".....", "....."}},
    {'0', {".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."}},
    {'1', {"..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."}},
    {'2', {".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"}},
    {'3', {"#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."}},
    {'4', {"...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."}},
    {'5', {"#####", "#....", "####.", "....#", "....#", "#...#", ".###."}},
    {'6', {"..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."}},
    {'7', {"#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."}},
    {'8', {".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."}},
    {'9', {".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."}},
    {'a', {".....", ".....", ".###.", "....#", ".####", "#...#", ".####"}},
    {'b', {"#....", "#....", "#.##.", "##..#", "#...#", "#...#", "####."}},
    {'c', {".....", ".....", ".###.", "#....", "#....", "#...#", ".###."}},
    {'d', {"....#", "....#", ".##.#", "#..##", "#...#", "#...#", ".####"}},
    {'e', {".....", ".....", ".###.", "#...#", "#####", "#....", ".###."}},
    {'f', {"..##.", ".#..#", ".#...", "###..", ".#...", ".#...", ".#..."}},
    {'g', {".....", ".####", "#...#", "#...#", ".####", "....#", ".###."}},
    {'h', {"#....", "#....", "#.##.", "##..#", "#...#", "#...#", "#...#"}},
    {'i', {"..#..", ".....", ".##..", "..#..", "..#..", "..#..", ".###."}},
    {'j', {"...#.", ".....", "..##.", "...#.", "...#.", "#..#.", ".##.."}},
    {'k', {"#....", "#....", "#..#.", "#.#..", "##...", "#.#..", "#..#."}},
    {'l', {".##..", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."}},
    {'m', {".....", ".....", "##.#.", "#.#.#", "#.#.#", "#...#", "#...#"}},
    {'n', {".....", ".....", "#.##.", "##..#", "#...#", "#...#", "#...#"}},
    {'o', {".....", ".....", ".###.", "#...#", "#...#", "#...#", ".###."}},
    {'p', {".....", ".....", "####.", "#...#", "####.", "#....", "#...."}},
    {'q', {".....", ".....", ".##.#", "#..##", ".####", "....#", "....#"}},
    {'r', {".....", ".....", "#.##.", "##..#", "#....", "#....", "#...."}},
    {'s', {".....", ".....", ".###.", "#....", ".###.", "....#", "####."}},
    {'t', {".#...", ".#...", "###..", ".#...", ".#...", ".#..#", "..##."}},
    {'u', {".....", ".....", "#...#", "#...#", "#...#", "#..##", ".##.#"}},
    {'v', {".....", ".....", "#...#", "#...#", "#...#", ".#.#.", "..#.."}},
    {'w', {".....", ".....", "#...#", "#...#", "#.#.#", "#.#.#", ".#.#."}},
    {'x', {".....", ".....", "#...#", ".#.#.", "..#..", ".#.#.", "#...#"}},
    {'y', {".....", ".....", "#...#", "#...#", ".####", "....#", ".###."}},
    {'z', {".....", ".....", "#####", "...#.", "..#..", ".#...", "#####"}},
    {'.', {".....", ".....", ".....", ".....", ".....", ".##..", ".##.."}},
    {',', {".....", ".....", ".....", ".....", ".##..", "..#..", ".#..."}},
    {'-', {".....", ".....", ".....", "#####", ".....", ".....", "....."}},
    {'+', {".....", "..#..", "..#..", "#####", "..#..", "..#..", "....."}},
    {'=', {".....", ".....", "#####", ".....", "#####", ".....", "....."}},
    {'/', {".....", "....#", "...#.", "..#..", ".#...", "#....", "....."}},
    {'_', {".....", ".....", ".....", ".....", ".....", ".....", "#####"}},
    {'(', {"...#.", "..#..", ".#...", ".#...", ".#...", "..#..", "...#."}},
    {')', {".#...", "..#..", "...#.", "...#.", "...#.", "..#..", ".#..."}},
    {':', {".....", ".##..", ".##..", ".....", ".##..", ".##..", "....."}},
    {'?', {".###.", "#...#", "....#", "...#.", "..#..", ".....", "..#.."}},
};
constexpr int kGlyphW = 5, kGlyphH = 7, kAdvance = 6;

const Glyph& glyph(char c) {
  if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  for (const Glyph& g : kFont)
    if (g.c == c) return g;
  return kFont[std::size(kFont) - 1];
}

class Canvas {
 public:
  Canvas(int width, int height)
      : image_{width, height, std::vector<uint8_t>(size_t(width) * height * 3, 255)},
        clip_{0, 0, width - 1, height - 1} {}

  // Drawing outside [x0, x1] x [y0, y1] is dropped (the plot area clips its curves).
  void clip(int x0, int y0, int x1, int y1) { clip_ = {x0, y0, x1, y1}; }
  void unclip() { clip_ = {0, 0, image_.width - 1, image_.height - 1}; }

  void pixel(int x, int y, Rgb c) {
    if (x < clip_[0] || y < clip_[1] || x > clip_[2] || y > clip_[3]) return;
    uint8_t* p = &image_.rgb[(size_t(y) * image_.width + x) * 3];
    p[0] = c.r;
    p[1] = c.g;
    p[2] = c.b;
  }
  void rect(int x0, int y0, int x1, int y1, Rgb c) {
    for (int y = y0; y <= y1; ++y)
      for (int x = x0; x <= x1; ++x) pixel(x, y, c);
  }
  // A line `thickness` pixels wide; with dash > 0, drawn in dash-long pieces with dash-long gaps.
  void line(double x0, double y0, double x1, double y1, Rgb c, int thickness = 1, int dash = 0) {
    const int steps =
        std::max(1, static_cast<int>(std::ceil(std::max(std::fabs(x1 - x0), std::fabs(y1 - y0)))));
    for (int i = 0; i <= steps; ++i) {
      if (dash > 0 && (i / dash) % 2 == 1) continue;
      const double t = static_cast<double>(i) / steps;
      const int x = static_cast<int>(std::lround(x0 + t * (x1 - x0)));
      const int y = static_cast<int>(std::lround(y0 + t * (y1 - y0)));
      rect(x - (thickness - 1) / 2, y - (thickness - 1) / 2, x + thickness / 2, y + thickness / 2, c);
    }
  }
  // Text with its top-left corner at (x, y), each font pixel `scale` pixels square.
  void text(int x, int y, const std::string& s, Rgb c, int scale = 1) {
    for (const char ch : s) {
      const Glyph& g = glyph(ch);
      for (int r = 0; r < kGlyphH; ++r)
        for (int col = 0; col < kGlyphW; ++col)
          if (g.rows[size_t(r)][col] == '#')
            rect(x + col * scale, y + r * scale, x + (col + 1) * scale - 1, y + (r + 1) * scale - 1, c);
      x += kAdvance * scale;
    }
  }
  static int text_width(const std::string& s, int scale = 1) {
    return static_cast<int>(s.size()) * kAdvance * scale;
  }
  RgbImage take() { return std::move(image_); }

 private:
  RgbImage image_;
  std::array<int, 4> clip_;
};

// About `target` round tick values (1, 2 or 5 times a power of ten apart) covering [lo, hi].
std::vector<double> nice_ticks(double lo, double hi, int target) {
  const double raw = (hi - lo) / target;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (const double m : {1.0, 2.0, 5.0, 10.0})
    if (m * magnitude >= raw) {
      step = m * magnitude;
      break;
    }
  std::vector<double> ticks;
  for (double v = std::ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push_back(v);
  return ticks;
}

// Enough decimals to tell ticks `step` apart.
std::string tick_label(double v, double step) {
  const int decimals = std::max(0, static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
  return fmt::format("{:.{}f}", std::fabs(v) < step * 1e-9 ? 0.0 : v, decimals);
}

constexpr Rgb kInk{40, 40, 40}, kGrid{225, 225, 225}, kTrain{30, 30, 30};
constexpr Rgb kPalette[] = {{31, 119, 180}, {214, 39, 40}, {44, 160, 44}, {148, 103, 189}, {255, 127, 14}};

struct Curve {
  std::string label;
  Rgb color;
  std::vector<std::pair<double, double>> points;  // (step, loss)
  int dash = 0;                                   // > 0: a dashed horizontal baseline
};

// val/loss -> "", val/ecoli/loss -> "ecoli"; nullopt for other names.
std::optional<std::string> val_set_of(const std::string& name, const std::string& what) {
  if (!name.starts_with("val/") || !name.ends_with("/" + what)) return std::nullopt;
  if (name.size() == 4 + what.size()) return std::string();
  return name.substr(4, name.size() - 4 - what.size() - 1);
}

std::vector<Curve> curves_of(const std::vector<MetricRecord>& records) {
  std::vector<Curve> curves;
  Curve train{"train loss", kTrain, {}, 0};
  std::map<std::string, std::vector<std::pair<double, double>>> val;
  std::map<std::string, double> unigram, markov;
  for (const MetricRecord& r : records) {
    for (const auto& [name, value] : r.scalars) {
      if (!std::isfinite(value)) continue;
      const auto step = static_cast<double>(r.step);
      if (name == "train/loss") train.points.emplace_back(step, value);
      if (const auto set = val_set_of(name, "loss")) val[*set].emplace_back(step, value);
      if (const auto set = val_set_of(name, "unigram_entropy")) unigram[*set] = value;
      if (const auto set = val_set_of(name, "markov_loss")) markov[*set] = value;
    }
  }
  if (!train.points.empty()) curves.push_back(train);
  size_t colour = 0;
  for (const auto& [set, points] : val) {
    const Rgb c = kPalette[colour++ % std::size(kPalette)];
    const std::string who = set.empty() ? "val" : "val " + set;
    curves.push_back({who + " loss", c, points, 0});
    if (const auto u = unigram.find(set); u != unigram.end())
      curves.push_back({who + " unigram", c, {{0, u->second}}, 9});
    if (const auto m = markov.find(set); m != markov.end())
      curves.push_back({who + " markov", c, {{0, m->second}}, 3});
  }
  return curves;
}

}  // namespace

RgbImage render_loss_plot(const std::vector<MetricRecord>& records) {
  constexpr int kWidth = 900, kHeight = 520, kLeft = 70, kRight = 220, kTop = 40, kBottom = 50;
  Canvas canvas(kWidth, kHeight);
  const int x0 = kLeft, x1 = kWidth - kRight, y0 = kTop, y1 = kHeight - kBottom;
  canvas.text(x0, 12, "loss (nats per base) by step", kInk, 2);

  const std::vector<Curve> curves = curves_of(records);
  // The early training loss (near log(vocabulary)) would flatten what matters: once validation has run,
  // the range covers validation, baselines and the training loss from the first validation on.
  double max_step = 1, first_val = -INFINITY, lo = INFINITY, hi = -INFINITY;
  for (const Curve& c : curves) {
    for (const auto& [step, loss] : c.points) max_step = std::max(max_step, step);
    if (c.dash == 0 && c.label.starts_with("val") && !c.points.empty())
      first_val =
          std::isinf(first_val) ? c.points.front().first : std::min(first_val, c.points.front().first);
  }
  for (const Curve& c : curves)
    for (const auto& [step, loss] : c.points) {
      if (c.dash == 0 && step < first_val) continue;
      lo = std::min(lo, loss);
      hi = std::max(hi, loss);
    }
  if (curves.empty()) {
    lo = 0;
    hi = 1;
    canvas.text(x0 + 20, (y0 + y1) / 2, "no losses logged yet", kInk, 2);
  }
  if (hi - lo < 1e-6) {
    lo -= 0.5;
    hi += 0.5;
  }
  const double pad = (hi - lo) * 0.05;
  lo -= pad;
  hi += pad;
  const auto px = [&](double step) { return x0 + (x1 - x0) * step / max_step; };
  const auto py = [&](double loss) { return y1 - (y1 - y0) * (loss - lo) / (hi - lo); };

  const std::vector<double> yt = nice_ticks(lo, hi, 6), xt = nice_ticks(0, max_step, 8);
  const double ystep = yt.size() > 1 ? yt[1] - yt[0] : 1, xstep = xt.size() > 1 ? xt[1] - xt[0] : 1;
  for (const double v : yt) {
    const int y = static_cast<int>(std::lround(py(v)));
    canvas.line(x0, y, x1, y, kGrid);
    canvas.line(x0 - 5, y, x0, y, kInk);
    const std::string label = tick_label(v, ystep);
    canvas.text(x0 - 8 - Canvas::text_width(label), y - kGlyphH / 2, label, kInk);
  }
  for (const double v : xt) {
    const int x = static_cast<int>(std::lround(px(v)));
    canvas.line(x, y0, x, y1, kGrid);
    canvas.line(x, y1, x, y1 + 5, kInk);
    const std::string label = tick_label(v, xstep);
    canvas.text(x - Canvas::text_width(label) / 2, y1 + 9, label, kInk);
  }
  canvas.line(x0, y0, x0, y1, kInk);
  canvas.line(x0, y1, x1, y1, kInk);
  canvas.text((x0 + x1) / 2 - Canvas::text_width("step") / 2, y1 + 24, "step", kInk);
  canvas.text(8, y0 - 14, "nats", kInk);

  int legend_y = y0;
  for (const Curve& c : curves) {
    canvas.clip(x0, y0, x1, y1);
    if (c.dash > 0) {
      const double y = py(c.points.front().second);
      canvas.line(x0, y, x1, y, c.color, 1, c.dash);
    } else if (c.points.size() == 1) {
      canvas.rect(static_cast<int>(px(c.points[0].first)) - 2, static_cast<int>(py(c.points[0].second)) - 2,
                  static_cast<int>(px(c.points[0].first)) + 2, static_cast<int>(py(c.points[0].second)) + 2,
                  c.color);
    }
    for (size_t i = 1; i < c.points.size() && c.dash == 0; ++i)
      canvas.line(px(c.points[i - 1].first), py(c.points[i - 1].second), px(c.points[i].first),
                  py(c.points[i].second), c.color, 2);
    canvas.unclip();
    canvas.line(x1 + 15, legend_y + 3, x1 + 40, legend_y + 3, c.color, c.dash > 0 ? 1 : 2,
                c.dash > 0 ? std::min(c.dash, 4) : 0);
    canvas.text(x1 + 46, legend_y, fmt::format("{} {:.3f}", c.label, c.points.back().second), kInk);
    legend_y += 16;
  }
  return canvas.take();
}

namespace {

class LossPlotSink final : public MetricSink {
 public:
  explicit LossPlotSink(std::string path) : path_(std::move(path)) {}
  void write(const MetricRecord& record) override {
    records_.push_back(record);
    for (const auto& [name, value] : record.scalars)
      if (val_set_of(name, "loss")) {
        draw();
        return;
      }
  }
  void flush() override { draw(); }

 private:
  void draw() {
    const RgbImage image = render_loss_plot(records_);
    io::write_file_atomic(path_, encode_png_rgb(image.width, image.height, image.rgb));
  }
  std::string path_;
  std::vector<MetricRecord> records_;
};

}  // namespace

std::unique_ptr<MetricSink> make_loss_plot_sink(const std::string& path) {
  return std::make_unique<LossPlotSink>(path);
}

}  // namespace strand
