// throttle.cpp: see throttle.hpp.
#include "core/throttle.hpp"

namespace pg_retention::core {

std::string FormatBytes(int64_t bytes) {
  if (bytes >= 10LL * 1024 * 1024) return std::to_string(bytes / (1024 * 1024)) + " MB";
  if (bytes >= 10LL * 1024) return std::to_string(bytes / 1024) + " kB";
  return std::to_string(bytes) + " bytes";
}

std::string ThrottleReason(const HealthBounds& b, const HealthSignals& s) {
  if (b.max_replication_lag_bytes > 0 && s.replication_lag_bytes > b.max_replication_lag_bytes)
    return "replication lag " + FormatBytes(s.replication_lag_bytes) + " over " +
           FormatBytes(b.max_replication_lag_bytes);
  if (b.max_replication_lag_us > 0 && s.replication_lag_us > b.max_replication_lag_us)
    return "replication lag " + std::to_string(s.replication_lag_us / 1000) + " ms over " +
           std::to_string(b.max_replication_lag_us / 1000) + " ms";
  if (b.max_archive_backlog > 0 && s.archive_backlog > b.max_archive_backlog)
    return std::to_string(s.archive_backlog) + " WAL files waiting for the archiver, over " +
           std::to_string(b.max_archive_backlog);
  if (b.pause_for_autovacuum && s.autovacuum_on_table) return "autovacuum is working on the table";
  return "";
}

}  // namespace pg_retention::core
