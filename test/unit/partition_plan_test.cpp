// Unit tests for the ranges of partitioned archives (src/core/partition_plan).
#include "core/partition_plan.hpp"

#include <gtest/gtest.h>

using namespace pg_retention::core;

namespace {
constexpr int64_t kDay = 86400LL * 1000000;
constexpr int64_t kHour = 3600LL * 1000000;
// 2026-11-15 12:00 UTC as a TimestampTz: days from 2000-01-01.
constexpr int64_t kNov15 = (9815LL) * kDay + 12 * kHour;
}  // namespace

TEST(PartitionPlan, StepFromInterval) {
  PartitionStep s;
  EXPECT_TRUE(PartitionStepFromInterval(1, 0, 0, &s).ok());
  EXPECT_EQ(s.months, 1);
  EXPECT_TRUE(PartitionStepFromInterval(0, 7, 0, &s).ok());
  EXPECT_EQ(s.micros, 7 * kDay);
  EXPECT_TRUE(PartitionStepFromInterval(0, 0, kHour, &s).ok());
  EXPECT_FALSE(PartitionStepFromInterval(1, 1, 0, &s).ok());
  EXPECT_FALSE(PartitionStepFromInterval(0, 0, kHour - 1, &s).ok());
  EXPECT_FALSE(PartitionStepFromInterval(-1, 0, 0, &s).ok());
  EXPECT_FALSE(PartitionStepFromInterval(0, -1, 0, &s).ok());
}

TEST(PartitionPlan, MonthsAlignToTheFirst) {
  PartitionStep s;
  s.months = 1;
  PartitionRange r = RangeAt(s, kNov15);
  EXPECT_EQ(PartitionSuffix(s, r.lower), "_p20261101");
  EXPECT_EQ(PartitionSuffix(s, r.upper), "_p20261201");
  auto ahead = RangesAhead(s, kNov15, 2);
  ASSERT_EQ(ahead.size(), 3u);
  EXPECT_EQ(PartitionSuffix(s, ahead[2].lower), "_p20270101");
  EXPECT_EQ(ahead[0].upper, ahead[1].lower);
  EXPECT_EQ(ahead[1].upper, ahead[2].lower);
}

TEST(PartitionPlan, QuartersAndDays) {
  PartitionStep q;
  q.months = 3;
  EXPECT_EQ(PartitionSuffix(q, RangeAt(q, kNov15).lower), "_p20261001");
  PartitionStep d;
  d.micros = kDay;
  PartitionRange r = RangeAt(d, kNov15);
  EXPECT_EQ(r.upper - r.lower, kDay);
  EXPECT_EQ(PartitionSuffix(d, r.lower), "_p20261115");
  PartitionStep h;
  h.micros = 6 * kHour;
  EXPECT_EQ(PartitionSuffix(h, RangeAt(h, kNov15).lower), "_p20261115_1200");
}

TEST(PartitionPlan, BeforeTheEpoch) {
  PartitionStep s;
  s.months = 1;
  PartitionRange r = RangeAt(s, -kDay);  // 1999-12-31
  EXPECT_EQ(PartitionSuffix(s, r.lower), "_p19991201");
  EXPECT_EQ(r.upper, 0);
}

TEST(PartitionPlan, ExpiredWholeOrMixed) {
  PartitionRange r{100, 200};
  EXPECT_TRUE(RangeExpired(r, 200));
  EXPECT_FALSE(RangeExpired(r, 199));
  EXPECT_TRUE(RangeMayHoldExpired(r, 101));
  EXPECT_FALSE(RangeMayHoldExpired(r, 100));
}
