// Unit tests for batch pacing (src/core/rate_limit).
#include "core/rate_limit.hpp"

#include <gtest/gtest.h>

using namespace pg_retention::core;

namespace {
constexpr int64_t kSec = 1000000;
}

TEST(RateLimit, NoLimitStartsNow) {
  RateReservation r = ReserveRows(50 * kSec, 10 * kSec, 1000, 0);
  EXPECT_EQ(r.start_at_us, 10 * kSec);
  EXPECT_EQ(r.next_at_us, 50 * kSec);
}

TEST(RateLimit, FirstBatchGoesAtOnce) {
  RateReservation r = ReserveRows(0, 10 * kSec, 100, 200);
  EXPECT_EQ(r.start_at_us, 10 * kSec);
  EXPECT_EQ(r.next_at_us, 10 * kSec + kSec / 2);
}

TEST(RateLimit, BatchesArePacedToTheRate) {
  // 100-row batches at 100 rows/s, each taking no time: one per second.
  int64_t next = 0, now = 0;
  for (int i = 0; i < 5; ++i) {
    RateReservation r = ReserveRows(next, now, 100, 100);
    EXPECT_EQ(r.start_at_us, i * kSec);
    now = r.start_at_us;  // the batch runs instantly
    next = r.next_at_us;
  }
}

TEST(RateLimit, SlowBatchesAreNotDelayed) {
  // A batch that took longer than its share leaves no debt.
  RateReservation r = ReserveRows(1 * kSec, 5 * kSec, 100, 100);
  EXPECT_EQ(r.start_at_us, 5 * kSec);
  EXPECT_EQ(r.next_at_us, 6 * kSec);
}

TEST(RateLimit, SharedLimiterSerializesCallers) {
  // Two runs sharing one limiter each reserve 50 rows at 100 rows/s.
  RateReservation a = ReserveRows(0, 0, 50, 100);
  RateReservation b = ReserveRows(a.next_at_us, 0, 50, 100);
  EXPECT_EQ(a.start_at_us, 0);
  EXPECT_EQ(b.start_at_us, kSec / 2);
  EXPECT_EQ(b.next_at_us, kSec);
}

TEST(RateLimit, HugeBatchesDoNotOverflow) {
  RateReservation r = ReserveRows(0, 0, 4000000000LL, 1);
  EXPECT_EQ(r.next_at_us, 4000000000LL * kSec);
}

// A look (no rows) tells when the next batch may start and reserves nothing.
TEST(RateLimit, LookingReservesNothing) {
  RateReservation r = ReserveRows(12 * kSec, 10 * kSec, 0, 100);
  EXPECT_EQ(r.start_at_us, 12 * kSec);
  EXPECT_EQ(r.next_at_us, 12 * kSec);
  r = ReserveRows(8 * kSec, 10 * kSec, 0, 100);
  EXPECT_EQ(r.start_at_us, 10 * kSec);
}

// The run pays for rows removed: a walk over rows with nothing to purge is
// never paced, however many rows its batches visit.
TEST(RateLimit, PacesRowsRemovedNotRowsVisited) {
  int64_t next = 0;
  for (int i = 0; i < 100; ++i) {
    const int64_t now = i * 1000;  // a batch every millisecond
    EXPECT_EQ(ReserveRows(next, now, 0, 100).start_at_us, now);
    next = PayForRemoved(next, now, 0, 100);
  }
  EXPECT_EQ(next, 0);
  // 50 rows removed at 100 rows/s: the next batch waits half a second.
  next = PayForRemoved(next, 200 * 1000, 50, 100);
  EXPECT_EQ(next, 200 * 1000 + kSec / 2);
  EXPECT_EQ(ReserveRows(next, 201 * 1000, 0, 100).start_at_us, 200 * 1000 + kSec / 2);
  // No limit: nothing is paid.
  EXPECT_EQ(PayForRemoved(5, 0, 1000, 0), 5);
}
