// Unit tests for retry backoff (src/core/backoff) and block range sizing
// (src/core/block_walk).
#include "core/backoff.hpp"
#include "core/block_walk.hpp"

#include <gtest/gtest.h>

using namespace pg_retention::core;

TEST(Backoff, DoublesUpToTheCap) {
  BackoffSettings s{100, 1000, 0.0};
  EXPECT_EQ(BackoffDelayMs(s, 0, 0.5), 0);
  EXPECT_EQ(BackoffDelayMs(s, 1, 0.5), 100);
  EXPECT_EQ(BackoffDelayMs(s, 2, 0.5), 200);
  EXPECT_EQ(BackoffDelayMs(s, 4, 0.5), 800);
  EXPECT_EQ(BackoffDelayMs(s, 5, 0.5), 1000);
  EXPECT_EQ(BackoffDelayMs(s, 1000, 0.5), 1000);  // no overflow
}

TEST(Backoff, JitterStaysInBand) {
  BackoffSettings s{1000, 100000, 0.2};
  EXPECT_EQ(BackoffDelayMs(s, 1, 0.0), 800);
  EXPECT_EQ(BackoffDelayMs(s, 1, 0.5), 1000);
  EXPECT_EQ(BackoffDelayMs(s, 1, 0.999999), 1200);
}

TEST(Backoff, JitterNeverExceedsCap) {
  BackoffSettings s{100, 1000, 0.5};
  EXPECT_LE(BackoffDelayMs(s, 20, 0.99), 1000);
}

TEST(BlockWalk, UsesTableDensity) {
  EXPECT_EQ(BlocksPerBatch(1000, 100000.0, 1000), 10);  // 100 rows per page
  EXPECT_EQ(BlocksPerBatch(1000, 10000.0, 1000), 100);  // 10 rows per page
}

TEST(BlockWalk, UnknownStatisticsFallBack) {
  EXPECT_EQ(BlocksPerBatch(1000, -1.0, 0), 10);
  EXPECT_EQ(BlocksPerBatch(0, -1.0, 0), 1);
}
