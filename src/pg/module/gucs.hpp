// gucs.hpp: the retention.* settings, defined in module.cpp. Plain C types
// only: this header is included next to core headers.
#pragma once

namespace pg_retention::pg {

extern int guc_lock_timeout_ms;           // retention.lock_timeout
extern int guc_statement_timeout_ms;      // retention.statement_timeout
extern int guc_default_batch_size;        // retention.default_batch_size
extern int guc_target_batch_time_ms;      // retention.target_batch_time
extern int guc_min_batch_size;            // retention.min_batch_size
extern int guc_max_batch_size;            // retention.max_batch_size
extern int guc_max_batch_retries;         // retention.max_batch_retries
extern int guc_max_replication_lag_kb;    // retention.max_replication_lag
extern int guc_max_replication_delay_ms;  // retention.max_replication_delay
extern int guc_max_archive_backlog;       // retention.max_archive_backlog
extern bool guc_pause_for_autovacuum;     // retention.pause_for_autovacuum
extern int guc_max_rows_per_second;       // retention.max_rows_per_second
extern double guc_analyze_threshold;      // retention.analyze_threshold
extern int guc_xmin_horizon_warning_ms;   // retention.xmin_horizon_warning
extern bool guc_enabled;                  // retention.enabled
extern int guc_naptime_ms;                // retention.naptime
extern int guc_max_workers;               // retention.max_workers
extern char* guc_databases;               // retention.databases
extern bool guc_enable_debug_waitpoints;  // retention.enable_debug_waitpoints

}  // namespace pg_retention::pg
