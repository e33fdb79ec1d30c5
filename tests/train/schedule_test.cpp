#include "strand/train/schedule.h"

#include "strand/core/error.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

namespace strand {
namespace {

ScheduleOptions options(const char* type) {
  ScheduleOptions o;
  o.type = type;
  o.lr = 1.0;
  o.min_lr = 0.1;
  o.warmup_steps = 10;
  o.total_steps = 110;
  return o;
}

TEST(Schedule, LinearWarmupFromZero) {
  const ScheduleOptions o = options("cosine");
  EXPECT_DOUBLE_EQ(learning_rate(o, 1), 0.1);
  EXPECT_DOUBLE_EQ(learning_rate(o, 5), 0.5);
  EXPECT_DOUBLE_EQ(learning_rate(o, 10), 1.0);
}

TEST(Schedule, CosineReachesMinAtTheEnd) {
  const ScheduleOptions o = options("cosine");
  EXPECT_NEAR(learning_rate(o, 60), 0.1 + 0.9 * 0.5 * (1 + std::cos(std::numbers::pi * 0.5)), 1e-15);
  EXPECT_NEAR(learning_rate(o, 110), 0.1, 1e-15);
  EXPECT_NEAR(learning_rate(o, 500), 0.1, 1e-15);
}

TEST(Schedule, LinearAndDecaySteps) {
  ScheduleOptions o = options("linear");
  EXPECT_NEAR(learning_rate(o, 60), 0.55, 1e-15);
  o.decay_steps = 50;
  EXPECT_NEAR(learning_rate(o, 35), 0.55, 1e-15);
  EXPECT_NEAR(learning_rate(o, 80), 0.1, 1e-15);
}

TEST(Schedule, WarmupStableDecay) {
  ScheduleOptions o = options("wsd");
  o.wsd_decay_fraction = 0.2;  // the last 22 of 110 steps
  EXPECT_DOUBLE_EQ(learning_rate(o, 50), 1.0);
  EXPECT_DOUBLE_EQ(learning_rate(o, 88), 1.0);
  EXPECT_NEAR(learning_rate(o, 99), 0.1 + 0.9 * (1 - 11.0 / 22.0), 1e-15);
  EXPECT_NEAR(learning_rate(o, 110), 0.1, 1e-15);
}

TEST(Schedule, ConstantAndValidation) {
  EXPECT_DOUBLE_EQ(learning_rate(options("constant"), 100), 1.0);
  ScheduleOptions bad = options("step");
  EXPECT_THROW(validate_schedule(bad), Error);
  bad = options("cosine");
  bad.min_lr = 2.0;
  EXPECT_THROW(validate_schedule(bad), Error);
}

}  // namespace
}  // namespace strand
