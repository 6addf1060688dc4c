// Unit tests for run scheduling and retry backoff (src/core/schedule).
#include "core/schedule.hpp"

#include <gtest/gtest.h>

using namespace pg_retention::core;

namespace {
constexpr int64_t kSec = 1000000;
constexpr int64_t kHour = 3600 * kSec;
}  // namespace

TEST(Schedule, SuccessRunsOneIntervalAfterTheStart) {
  ScheduleInput in{1000 * kSec, 1100 * kSec, kHour, 0, 0.5};
  EXPECT_EQ(NextRunAt(in), 1000 * kSec + kHour);
}

TEST(Schedule, PartialRunIsDueAgainWhenItEnds) {
  ScheduleInput in{1000 * kSec, 1100 * kSec, kHour, 0, 0.5, true};
  EXPECT_EQ(NextRunAt(in), 1100 * kSec);
}

TEST(Schedule, FailedPartialRunBacksOff) {
  ScheduleInput in{0, 100 * kSec, kHour, 1, 0.5, true};
  EXPECT_EQ(NextRunAt(in), 110 * kSec);  // the failure decides, not the work left
}

TEST(Schedule, FailureRetriesSoonWithBackoff) {
  ScheduleInput in{0, 100 * kSec, kHour, 1, 0.5};
  EXPECT_EQ(NextRunAt(in), 110 * kSec);  // 10 s after the failure
  in.consecutive_failures = 2;
  EXPECT_EQ(NextRunAt(in), 120 * kSec);
  in.consecutive_failures = 3;
  EXPECT_EQ(NextRunAt(in), 140 * kSec);
}

TEST(Schedule, BackoffNeverLaterThanTheRegularRun) {
  ScheduleInput in{0, 100 * kSec, 60 * kSec, 10, 0.99};
  EXPECT_EQ(NextRunAt(in), 100 * kSec);  // regular run (60 s) already due: go at finish
  in.schedule_us = 24 * kHour;
  in.consecutive_failures = 50;
  EXPECT_LE(NextRunAt(in), 100 * kSec + kHour + kHour / 5);  // capped at an hour (+jitter)
  EXPECT_GE(NextRunAt(in), 100 * kSec + kHour - kHour / 5);
}

TEST(Schedule, JitterSpreadsRetries) {
  ScheduleInput low{0, 0, kHour, 1, 0.0};
  ScheduleInput high{0, 0, kHour, 1, 0.999};
  EXPECT_LT(NextRunAt(low), NextRunAt(high));
  EXPECT_GE(NextRunAt(low), 8 * kSec);
  EXPECT_LE(NextRunAt(high), 12 * kSec);
}
