// Unit tests for the health throttle decisions (src/core/throttle).
#include "core/throttle.hpp"

#include <gtest/gtest.h>

using namespace pg_retention::core;

namespace {
constexpr int64_t kMB = 1024 * 1024;
constexpr int64_t kSecond = 1000000;
}

TEST(Throttle, HealthyGoesOn) {
  HealthBounds b;
  b.max_replication_lag_bytes = 16 * kMB;
  b.max_archive_backlog = 64;
  HealthSignals s;
  s.replication_lag_bytes = 1 * kMB;
  s.archive_backlog = 3;
  EXPECT_EQ(ThrottleReason(b, s), "");
}

TEST(Throttle, NoStandbyNoLag) {
  HealthBounds b;
  b.max_replication_lag_bytes = 16 * kMB;
  HealthSignals s;  // -1: no streaming standby
  EXPECT_EQ(ThrottleReason(b, s), "");
}

TEST(Throttle, ReplicationLagInBytes) {
  HealthBounds b;
  b.max_replication_lag_bytes = 16 * kMB;
  HealthSignals s;
  s.replication_lag_bytes = 20 * kMB;
  EXPECT_EQ(ThrottleReason(b, s), "replication lag 20 MB over 16 MB");
  s.replication_lag_bytes = 16 * kMB;  // at the bound is fine
  EXPECT_EQ(ThrottleReason(b, s), "");
}

TEST(Throttle, ReplicationLagInTime) {
  HealthBounds b;
  b.max_replication_lag_us = 5000000;
  HealthSignals s;
  s.replication_lag_us = 7500000;
  EXPECT_EQ(ThrottleReason(b, s), "replication lag 7500 ms over 5000 ms");
}

TEST(Throttle, ArchiveBacklog) {
  HealthBounds b;
  b.max_archive_backlog = 42;
  HealthSignals s;
  s.archive_backlog = 43;
  EXPECT_EQ(ThrottleReason(b, s), "43 WAL files waiting for the archiver, over 42");
}

TEST(Throttle, AutovacuumOnlyWhenAsked) {
  HealthBounds b;
  HealthSignals s;
  s.autovacuum_on_table = true;
  EXPECT_EQ(ThrottleReason(b, s), "autovacuum is working on the table");
  b.pause_for_autovacuum = false;
  EXPECT_EQ(ThrottleReason(b, s), "");
}

TEST(Throttle, ZeroBoundsDisableChecks) {
  HealthBounds b;
  b.pause_for_autovacuum = false;
  HealthSignals s;
  s.replication_lag_bytes = 100 * kMB;
  s.replication_lag_us = 100000000;
  s.archive_backlog = 1000;
  EXPECT_EQ(ThrottleReason(b, s), "");
}

TEST(Throttle, FormatsBytes) {
  EXPECT_EQ(FormatBytes(12), "12 bytes");
  EXPECT_EQ(FormatBytes(900 * 1024), "900 kB");
  EXPECT_EQ(FormatBytes(16 * kMB), "16 MB");
}

// The xmin horizon is reported, never a reason to wait.
TEST(Horizon, NoHolderNoWarning) {
  HorizonHolder h;  // age -1: nothing holds the horizon
  EXPECT_EQ(HorizonWarning(60 * kSecond, h), "");
}

TEST(Horizon, YoungHolderNoWarning) {
  HorizonHolder h;
  h.age_us = 59 * kSecond;
  h.pid = 4242;
  h.state = "idle in transaction";
  EXPECT_EQ(HorizonWarning(60 * kSecond, h), "");
}

TEST(Horizon, OldTransactionNamesPidAndState) {
  HorizonHolder h;
  h.age_us = 12 * 60 * kSecond + 5 * kSecond;
  h.pid = 4242;
  h.state = "idle in transaction";
  EXPECT_EQ(HorizonWarning(60 * kSecond, h),
            "transaction of pid 4242 (idle in transaction) has held back the xmin horizon "
            "for 12 min");
}

TEST(Horizon, PreparedTransactionNamesGid) {
  HorizonHolder h;
  h.age_us = 2 * 3600 * kSecond + 3 * 60 * kSecond;
  h.prepared_gid = "tx-17";
  EXPECT_EQ(HorizonWarning(60 * kSecond, h),
            "prepared transaction \"tx-17\" has held back the xmin horizon for 2 h 3 min");
}

TEST(Horizon, DisabledByZero) {
  HorizonHolder h;
  h.age_us = 100 * 3600 * kSecond;
  h.pid = 1;
  EXPECT_EQ(HorizonWarning(0, h), "");
}

TEST(Horizon, DurationFormats) {
  EXPECT_EQ(FormatDuration(250 * 1000), "250 ms");
  EXPECT_EQ(FormatDuration(45 * kSecond), "45 s");
  EXPECT_EQ(FormatDuration(90 * kSecond), "1 min");
  EXPECT_EQ(FormatDuration(3600 * kSecond), "1 h 0 min");
  EXPECT_EQ(FormatDuration(50 * 3600 * kSecond + 59 * 60 * kSecond), "50 h 59 min");
}
