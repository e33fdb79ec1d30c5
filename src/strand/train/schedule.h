// Learning-rate schedules: linear warmup from 0, then cosine, linear or warmup-stable-decay to min_lr, or
// constant.
#pragma once

#include <cstdint>
#include <string>

namespace strand {

struct ScheduleOptions {
  std::string type = "cosine";  // cosine | linear | wsd | constant
  double lr = 5e-4;             // peak
  double min_lr = 0.0;          // floor of the decay
  int64_t warmup_steps = 0;
  int64_t decay_steps = 0;  // cosine/linear: steps of decay after warmup (0: until total_steps)
  int64_t total_steps = 1;
  double wsd_decay_fraction = 0.1;  // wsd: the last fraction of total_steps decays linearly
};

// The rate for optimizer step `step` (counting from 1). Beyond the decay it stays at min_lr.
double learning_rate(const ScheduleOptions& options, int64_t step);

// Checks the options, naming the config key at fault.
void validate_schedule(const ScheduleOptions& options);

}  // namespace strand
