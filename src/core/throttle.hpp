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

// The oldest transaction holding back the xmin horizon of the run's
// database: the rows a run deletes cannot be vacuumed away while it lives.
// Reported (retention.status, retention.runs, a WARNING), never waited for:
// waiting would not make it end.
struct HorizonHolder {
  int64_t age_us = -1;       // how long it has held the horizon; -1: nothing does
  int32_t pid = 0;           // backend of a transaction (0 for a prepared one)
  std::string state;         // pg_stat_activity.state, may be empty
  std::string prepared_gid;  // non-empty: a prepared transaction
};

// Empty when nothing has held the horizon for warn_after_us or longer
// (0: never warn); otherwise the sentence for the operator.
std::string HorizonWarning(int64_t warn_after_us, const HorizonHolder& holder);

// "250 ms", "45 s", "12 min", "2 h 3 min".
std::string FormatDuration(int64_t us);

// "16 MB", "900 kB", "12 bytes": for reasons and messages.
std::string FormatBytes(int64_t bytes);

}  // namespace pg_retention::core
