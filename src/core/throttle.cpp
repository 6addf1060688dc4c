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

std::string FormatDuration(int64_t us) {
  constexpr int64_t kSecond = 1000000;
  if (us < kSecond) return std::to_string(us / 1000) + " ms";
  if (us < 60 * kSecond) return std::to_string(us / kSecond) + " s";
  const int64_t minutes = us / (60 * kSecond);
  if (minutes < 60) return std::to_string(minutes) + " min";
  return std::to_string(minutes / 60) + " h " + std::to_string(minutes % 60) + " min";
}

std::string HorizonWarning(int64_t warn_after_us, const HorizonHolder& h) {
  if (warn_after_us <= 0 || h.age_us < 0 || h.age_us < warn_after_us) return "";
  std::string who;
  if (!h.prepared_gid.empty()) {
    who = "prepared transaction \"" + h.prepared_gid + "\"";
  } else {
    who = "transaction of pid " + std::to_string(h.pid);
    if (!h.state.empty()) who += " (" + h.state + ")";
  }
  return who + " has held back the xmin horizon for " + FormatDuration(h.age_us);
}

}  // namespace pg_retention::core
