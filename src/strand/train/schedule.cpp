#include "strand/train/schedule.h"

#include "strand/core/error.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace strand {

void validate_schedule(const ScheduleOptions& o) {
  STRAND_CHECK(o.type == "cosine" || o.type == "linear" || o.type == "wsd" || o.type == "constant",
               "schedule.type must be cosine, linear, wsd or constant, got '{}'", o.type);
  STRAND_CHECK(o.lr >= 0 && o.min_lr >= 0 && o.min_lr <= o.lr, "need 0 <= optimizer.min_lr <= optimizer.lr");
  STRAND_CHECK(o.warmup_steps >= 0 && o.decay_steps >= 0,
               "schedule.warmup_steps and decay_steps must be >= 0");
  STRAND_CHECK(o.wsd_decay_fraction >= 0 && o.wsd_decay_fraction <= 1,
               "schedule.wsd_decay_fraction must lie in [0, 1]");
}

double learning_rate(const ScheduleOptions& o, int64_t step) {
  if (o.warmup_steps > 0 && step <= o.warmup_steps)
    return o.lr * static_cast<double>(step) / static_cast<double>(o.warmup_steps);
  if (o.type == "constant") return o.lr;
  if (o.type == "wsd") {
    const auto decay =
        static_cast<int64_t>(std::llround(o.wsd_decay_fraction * static_cast<double>(o.total_steps)));
    const int64_t decay_start = o.total_steps - decay;
    if (step <= decay_start || decay == 0) return o.lr;
    const double p = std::min(1.0, static_cast<double>(step - decay_start) / static_cast<double>(decay));
    return o.min_lr + (o.lr - o.min_lr) * (1.0 - p);
  }
  const int64_t span =
      o.decay_steps > 0 ? o.decay_steps : std::max<int64_t>(1, o.total_steps - o.warmup_steps);
  const double p =
      std::clamp(static_cast<double>(step - o.warmup_steps) / static_cast<double>(span), 0.0, 1.0);
  if (o.type == "linear") return o.min_lr + (o.lr - o.min_lr) * (1.0 - p);
  return o.min_lr + (o.lr - o.min_lr) * 0.5 * (1.0 + std::cos(std::numbers::pi * p));
}

}  // namespace strand
