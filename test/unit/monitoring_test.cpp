// Unit tests for the monitoring decisions (src/core/monitoring).
#include "core/monitoring.hpp"

#include <gtest/gtest.h>

#include <cmath>

using namespace pg_retention::core;

TEST(Monitoring, CompletePassLeavesNoBacklog) {
  EXPECT_EQ(BacklogAfterRun(true, true, 5000.0), 0);
  EXPECT_EQ(BacklogAfterRun(true, false, 0.0), 0);
}

TEST(Monitoring, IncompletePassTakesThePlannersEstimate) {
  EXPECT_EQ(BacklogAfterRun(false, true, 1234.4), 1234);
  EXPECT_EQ(BacklogAfterRun(false, true, 0.6), 1);
  EXPECT_EQ(BacklogAfterRun(false, false, 10.0), kUnknown);
  EXPECT_EQ(BacklogAfterRun(false, true, -3.0), kUnknown);
  EXPECT_EQ(BacklogAfterRun(false, true, std::nan("")), kUnknown);
}

TEST(Monitoring, FreeSpaceIsTheDeadRowsShare) {
  EXPECT_EQ(EstimateFreeBytes({8192 * 100, 25, 75, 100, 75}), 8192 * 75);
  EXPECT_EQ(EstimateFreeBytes({8192, 0, 0, 0, 0}), 0);
  EXPECT_EQ(EstimateFreeBytes({8192, 10, -1, -1, 0}), 0);       // nothing dead
  EXPECT_EQ(EstimateFreeBytes({-1, 10, 10, 20, 10}), kUnknown);  // size unknown (table locked)
}

TEST(Monitoring, FreeSpaceWithoutFreshStatistics) {
  // The statistics do not know the run yet: the removed rows are dead, and
  // reltuples (before the run) less them are live.
  EXPECT_EQ(EstimateFreeBytes({8192 * 100, 0, 0, 4000, 1000}), 8192 * 25);
  // Never analyzed, no statistics: all the table is what the run removed.
  EXPECT_EQ(EstimateFreeBytes({8192, -1, -1, -1, 10}), 8192);
}

TEST(Monitoring, PrunePlanFollowsTheSettings) {
  HistoryPrune p = PlanHistoryPrune(1000000, 400000, 50, 10);
  EXPECT_TRUE(p.by_age);
  EXPECT_EQ(p.older_than_us, 600000);
  EXPECT_TRUE(p.by_count);
  EXPECT_EQ(p.keep_rows, 50);
  EXPECT_EQ(p.batch_rows, kPruneBatchRows);
  EXPECT_EQ(p.max_batches, 10);

  HistoryPrune off = PlanHistoryPrune(1000000, 0, 0, 0);
  EXPECT_FALSE(off.by_age);
  EXPECT_FALSE(off.by_count);
  EXPECT_EQ(off.max_batches, 1);
  EXPECT_EQ(PlanHistoryPrune(0, 1, 1, 5000).max_batches, 1000);
}

TEST(Monitoring, PruneStopsAtAShortBatchOrTheBound) {
  HistoryPrune p = PlanHistoryPrune(1000000, 1, 0, 3);
  EXPECT_TRUE(PruneContinues(p, 1, kPruneBatchRows));
  EXPECT_FALSE(PruneContinues(p, 1, kPruneBatchRows - 1));  // nothing more to do
  EXPECT_FALSE(PruneContinues(p, 3, kPruneBatchRows));      // bounded per pass
  HistoryPrune off = PlanHistoryPrune(1000000, 0, 0, 3);
  EXPECT_FALSE(PruneContinues(off, 0, kPruneBatchRows));
}
