// Unit tests for the adaptive batch size (src/core/batch_sizer): convergence
// to the target duration, no oscillation under noise, clamping, timeouts.
#include "core/batch_sizer.hpp"

#include <gtest/gtest.h>

#include <cmath>

using namespace pg_retention::core;

namespace {

BatchSizerSettings Settings() {
  BatchSizerSettings s;
  s.target_us = 200000;  // 200 ms
  s.min_rows = 100;
  s.max_rows = 100000;
  return s;
}

BatchObservation Seen(int64_t limit, int64_t visited, int64_t elapsed_us) {
  BatchObservation seen;
  seen.limit = limit;
  seen.visited = visited;
  seen.elapsed_us = elapsed_us;
  return seen;
}

// A table where one row costs cost_us.
BatchSizerState Drive(const BatchSizerSettings& s, BatchSizerState st, double cost_us, int steps) {
  for (int i = 0; i < steps; ++i)
    st = AfterBatch(s, st, Seen(st.rows, st.rows, std::llround(cost_us * st.rows)));
  return st;
}

}  // namespace

TEST(BatchSizer, StartsClamped) {
  EXPECT_EQ(StartBatchSizer(Settings(), 5000).rows, 5000);
  EXPECT_EQ(StartBatchSizer(Settings(), 1).rows, 100);
  EXPECT_EQ(StartBatchSizer(Settings(), 10000000).rows, 100000);
}

TEST(BatchSizer, ConvergesUpToTheTarget) {
  // 10 us per row: 200 ms means 20000 rows.
  BatchSizerState st = Drive(Settings(), StartBatchSizer(Settings(), 1000), 10.0, 12);
  EXPECT_NEAR(st.rows, 20000, 200);
}

TEST(BatchSizer, ConvergesDownToTheTarget) {
  // 400 us per row: 500 rows.
  BatchSizerState st = Drive(Settings(), StartBatchSizer(Settings(), 5000), 400.0, 12);
  EXPECT_NEAR(st.rows, 500, 10);
}

TEST(BatchSizer, MovesAtMostOneStepPerBatch) {
  BatchSizerSettings s = Settings();
  BatchSizerState st = StartBatchSizer(s, 1000);
  // Extremely cheap rows would ask for the maximum at once.
  BatchSizerState next = AfterBatch(s, st, Seen(1000, 1000, 1000));
  EXPECT_EQ(next.rows, 2000);
  // Extremely expensive rows would ask for the minimum at once.
  next = AfterBatch(s, st, Seen(1000, 1000, 100000000));
  EXPECT_EQ(next.rows, 500);
}

TEST(BatchSizer, DoesNotOscillateUnderNoise) {
  // Cost alternates 20% around 10 us per row: the size stays in a narrow band
  // around 20000 instead of swinging with each batch.
  BatchSizerSettings s = Settings();
  BatchSizerState st = Drive(s, StartBatchSizer(s, 20000), 10.0, 5);
  int64_t lo = st.rows, hi = st.rows;
  for (int i = 0; i < 40; ++i) {
    double cost = (i % 2 == 0) ? 12.0 : 8.0;
    st = AfterBatch(s, st, Seen(st.rows, st.rows, std::llround(cost * st.rows)));
    lo = std::min(lo, st.rows);
    hi = std::max(hi, st.rows);
  }
  EXPECT_GE(lo, 16000);
  EXPECT_LE(hi, 25000);
}

TEST(BatchSizer, FollowsAChangeInCost) {
  BatchSizerSettings s = Settings();
  BatchSizerState st = Drive(s, StartBatchSizer(s, 20000), 10.0, 10);
  st = Drive(s, st, 100.0, 12);  // the table got busy: 10x the cost
  EXPECT_NEAR(st.rows, 2000, 100);
}

TEST(BatchSizer, ClampsToBounds) {
  BatchSizerSettings s = Settings();
  s.max_rows = 5000;
  EXPECT_EQ(Drive(s, StartBatchSizer(s, 1000), 0.01, 20).rows, 5000);
  s.min_rows = 800;
  EXPECT_EQ(Drive(s, StartBatchSizer(s, 1000), 100000.0, 20).rows, 800);
}

TEST(BatchSizer, TimeoutHalvesAndForgets) {
  BatchSizerSettings s = Settings();
  BatchSizerState st = Drive(s, StartBatchSizer(s, 1000), 10.0, 12);
  BatchSizerState after = AfterTimeout(s, st);
  EXPECT_EQ(after.rows, st.rows / 2);
  EXPECT_EQ(after.cost_us_per_row, 0.0);
  // Repeated timeouts stop at the minimum.
  for (int i = 0; i < 20; ++i) after = AfterTimeout(s, after);
  EXPECT_EQ(after.rows, 100);
}

TEST(BatchSizer, IgnoresEmptyObservations) {
  BatchSizerSettings s = Settings();
  BatchSizerState st = StartBatchSizer(s, 1000);
  EXPECT_EQ(AfterBatch(s, st, Seen(1000, 0, 5000)).rows, 1000);
}

// The cost per row is learned from the rows a batch visited, not from the
// limit it asked for: a batch that asked for 10000 rows but found only 100
// in 200 ms shows 2 ms per row (shrink), not 20 us per row (grow).
TEST(BatchSizer, LearnsFromRowsVisitedNotTheLimit) {
  BatchSizerSettings s = Settings();
  BatchSizerState st = StartBatchSizer(s, 10000);
  BatchSizerState next = AfterBatch(s, st, Seen(10000, 100, 200000));
  EXPECT_DOUBLE_EQ(next.cost_us_per_row, 2000.0);
  EXPECT_EQ(next.rows, 5000);  // one step down, toward 100 rows
  // Every row visited: 20 us per row, one step up toward 10000 rows of 200 ms.
  next = AfterBatch(s, st, Seen(10000, 10000, 200000));
  EXPECT_DOUBLE_EQ(next.cost_us_per_row, 20.0);
  EXPECT_EQ(next.rows, 10000);
}
