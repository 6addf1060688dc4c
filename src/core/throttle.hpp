// throttle.hpp: whether a run should wait before its next batch, and why.
// The engine reads cheap health signals (replication lag of the streaming
// standbys, WAL segments waiting for the archiver, autovacuum working on the
// table) and waits, holding no snapshot, while any is over its bound. Pure:
// the server passes the readings in.
#pragma once
#include "core/wall.hpp"

#include <cstdint>
#include <string>

namespace pg_retention::core {

struct HealthBounds {
  int64_t max_replication_lag_bytes = 0;  // 0: no bound
  int64_t max_replication_lag_us = 0;     // 0: no bound
  int64_t max_archive_backlog = 0;        // WAL files; 0: no bound
  bool pause_for_autovacuum = true;
};

struct HealthSignals {
  int64_t replication_lag_bytes = -1;  // largest replay lag of a streaming standby; -1: none
  int64_t replication_lag_us = -1;     // likewise in time; -1: unknown
  int64_t archive_backlog = 0;         // .ready files in pg_wal/archive_status
  bool autovacuum_on_table = false;
};

// Empty when the batch may go; otherwise the reason, for retention.status.
std::string ThrottleReason(const HealthBounds& bounds, const HealthSignals& signals);

// "16 MB", "900 kB", "12 bytes": for reasons and messages.
std::string FormatBytes(int64_t bytes);

}  // namespace pg_retention::core
