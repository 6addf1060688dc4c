// Unit tests for the health throttle decisions (src/core/throttle).
#include "core/throttle.hpp"

#include <gtest/gtest.h>

using namespace pg_retention::core;

namespace {
constexpr int64_t kMB = 1024 * 1024;
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
