// Unit tests for the launcher's decision to start a scheduler
// (src/core/launcher_decision).
#include "core/launcher_decision.hpp"

#include <gtest/gtest.h>

namespace pg_retention::core {
namespace {

constexpr int64_t kSec = 1000000;

SchedulerStartInput Known() {
  SchedulerStartInput in;
  in.state = DatabaseState::kHasExtension;
  in.now_us = 100 * kSec;
  in.naptime_us = 10 * kSec;
  return in;
}

TEST(LauncherDecision, StartsWhereTheExtensionIs) {
  EXPECT_EQ(DecideSchedulerStart(Known()), SchedulerStart::kStart);
}

TEST(LauncherDecision, NeverWhereItIsMissing) {
  SchedulerStartInput in = Known();
  in.state = DatabaseState::kNoExtension;
  EXPECT_EQ(DecideSchedulerStart(in), SchedulerStart::kNo);
}

TEST(LauncherDecision, OneSchedulerPerDatabase) {
  SchedulerStartInput in = Known();
  in.running = true;
  EXPECT_EQ(DecideSchedulerStart(in), SchedulerStart::kNo);
  in = Known();
  in.registered_elsewhere = true;
  EXPECT_EQ(DecideSchedulerStart(in), SchedulerStart::kNo);
  in = Known();
  in.no_free_entry = true;
  EXPECT_EQ(DecideSchedulerStart(in), SchedulerStart::kNo);
}

TEST(LauncherDecision, MakesWayForDatabaseWideCommands) {
  SchedulerStartInput in = Known();
  in.held = true;
  EXPECT_EQ(DecideSchedulerStart(in), SchedulerStart::kNo);
}

TEST(LauncherDecision, AtMostOneStartPerNaptime) {
  SchedulerStartInput in = Known();
  in.started_before = true;
  in.last_start_us = 95 * kSec;  // 5 s ago, naptime 10 s
  EXPECT_EQ(DecideSchedulerStart(in), SchedulerStart::kNo);
  in.last_start_us = 90 * kSec;  // a whole naptime ago
  EXPECT_EQ(DecideSchedulerStart(in), SchedulerStart::kStart);
}

TEST(LauncherDecision, ProbesUnknownDatabasesAFewAtATime) {
  SchedulerStartInput in = Known();
  in.state = DatabaseState::kUnknown;
  in.probing = 1;
  EXPECT_EQ(DecideSchedulerStart(in), SchedulerStart::kProbe);
  in.probing = 2;
  EXPECT_EQ(DecideSchedulerStart(in), SchedulerStart::kNo);
  in.state = DatabaseState::kHasExtension;  // probes do not limit known ones
  EXPECT_EQ(DecideSchedulerStart(in), SchedulerStart::kStart);
}

}  // namespace
}  // namespace pg_retention::core
