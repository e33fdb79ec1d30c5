// The loss curves of a run as a picture: training loss and every validation loss against the step, each
// validation set's baselines (its unigram entropy, its Markov-chain loss) as dashed horizontal lines in the
// set's colour, axes with tick labels, and a legend. Drawn with a built-in bitmap font, written as PNG.
#pragma once

#include "strand/train/metrics.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace strand {

struct RgbImage {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;  // [height][width][3], top row first
};

// The plot of `records` (as the trainer logs them): train/loss, and for each validation set (val/ or
// val/<name>/) its loss as a curve and its unigram_entropy and markov_loss (their last values) as lines.
// Records without these scalars are ignored; with none at all the plot holds axes and a note.
RgbImage render_loss_plot(const std::vector<MetricRecord>& records);

// A sink that keeps the records it sees and writes render_loss_plot of them to `path` (a PNG, replaced
// atomically) after each record holding a validation loss, and at flush(). A resumed run draws the steps
// logged since it started.
std::unique_ptr<MetricSink> make_loss_plot_sink(const std::string& path);

}  // namespace strand
