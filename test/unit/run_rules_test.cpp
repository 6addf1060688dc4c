// Unit tests for the run engine's rules (src/core/run_rules): the batch
// limit composed from the size, max_rows and the rate limit; retries; the
// look after a skip; the ANALYZE after a run.
#include "core/run_rules.hpp"

#include <gtest/gtest.h>

namespace core = pg_retention::core;

namespace {

core::BatchLimitInput Input(int64_t size) {
  core::BatchLimitInput in;
  in.size = size;
  return in;
}

}  // namespace

TEST(BatchLimit, IsTheSizeWithoutLimits) {
  EXPECT_EQ(core::ComposeBatchLimit(Input(5000)).rows, 5000);
  EXPECT_FALSE(core::ComposeBatchLimit(Input(5000)).stop);
  EXPECT_EQ(core::ComposeBatchLimit(Input(0)).rows, 1);
}

TEST(BatchLimit, MaxRowsCountsRowsRemoved) {
  core::BatchLimitInput in = Input(5000);
  in.max_rows = 12000;
  in.removed_so_far = 10000;
  in.visited_so_far = 40000;
  EXPECT_EQ(core::ComposeBatchLimit(in).rows, 2000);
  in.removed_so_far = 12000;
  EXPECT_TRUE(core::ComposeBatchLimit(in).stop);
}

TEST(BatchLimit, RateCapsTheFirstBatchAtOneSecond) {
  core::BatchLimitInput in = Input(5000);
  in.rows_per_second = 200;
  EXPECT_EQ(core::ComposeBatchLimit(in).rows, 200);
}

// With a tenth of the rows visited removed, a batch may visit ten seconds'
// worth of the rate; with nothing removed, only the size bounds it.
TEST(BatchLimit, RateCapFollowsTheShareOfRowsRemoved) {
  core::BatchLimitInput in = Input(5000);
  in.rows_per_second = 200;
  in.visited_so_far = 1000;
  in.removed_so_far = 100;
  EXPECT_EQ(core::ComposeBatchLimit(in).rows, 2000);
  in.removed_so_far = 0;
  EXPECT_EQ(core::ComposeBatchLimit(in).rows, 5000);
  in.removed_so_far = 1000;
  EXPECT_EQ(core::ComposeBatchLimit(in).rows, 200);
}

TEST(Retry, OnlyTransientFailuresWithinTheBudget) {
  EXPECT_TRUE(core::ShouldRetry(true, 0, 3));
  EXPECT_TRUE(core::ShouldRetry(true, 2, 3));
  EXPECT_FALSE(core::ShouldRetry(true, 3, 3));
  EXPECT_FALSE(core::ShouldRetry(false, 0, 3));
  EXPECT_FALSE(core::ShouldRetry(true, 0, 0));
}

TEST(Skip, LooksAgainAfterAMinuteOrOneSchedule) {
  const int64_t sec = 1000000;
  EXPECT_EQ(core::NextLookAfterSkip(100 * sec, 3600 * sec), 160 * sec);
  EXPECT_EQ(core::NextLookAfterSkip(100 * sec, 5 * sec), 105 * sec);
  EXPECT_EQ(core::NextLookAfterSkip(100 * sec, 0), 160 * sec);
}

namespace {

core::AnalyzeInput BigPurge() {
  core::AnalyzeInput in;
  in.threshold = 0.2;
  in.reltuples_before = 1000;
  in.rows_removed = 300;
  return in;
}

}  // namespace

TEST(Analyze, LeftToAutovacuumWhenItIsOn) {
  EXPECT_FALSE(core::ShouldAnalyzeAfterRun(BigPurge()));
}

TEST(Analyze, RunWhenAutovacuumIsOffOrBusy) {
  core::AnalyzeInput in = BigPurge();
  in.autovacuum_on = false;
  EXPECT_TRUE(core::ShouldAnalyzeAfterRun(in));
  in = BigPurge();
  in.autovacuum_busy = true;
  EXPECT_TRUE(core::ShouldAnalyzeAfterRun(in));
}

TEST(Analyze, NeverAfterASmallPurgeAFailureOrWithThresholdZero) {
  core::AnalyzeInput in = BigPurge();
  in.autovacuum_on = false;
  in.rows_removed = 199;
  EXPECT_FALSE(core::ShouldAnalyzeAfterRun(in));
  in.rows_removed = 300;
  in.run_failed = true;
  EXPECT_FALSE(core::ShouldAnalyzeAfterRun(in));
  in.run_failed = false;
  in.threshold = 0;
  EXPECT_FALSE(core::ShouldAnalyzeAfterRun(in));
  in.threshold = 0.2;
  in.reltuples_before = -1;  // never analyzed
  EXPECT_FALSE(core::ShouldAnalyzeAfterRun(in));
}
