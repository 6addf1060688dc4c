// module.cpp: the module's entry point. Defines the retention.* settings,
// reserves the prefix and, when loaded through shared_preload_libraries,
// asks for shared memory and registers the launcher background worker.
#include "core/policy_model.hpp"
#include "pg/module/gucs.hpp"
#include "pg/module/monitoring_settings.hpp"
#include "pg/workers/launcher.hpp"
#include "pg/policy/role_hooks.hpp"
#include "pg/workers/shared_state.hpp"

#include <climits>

extern "C" {
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"
}

extern "C" {
PG_MODULE_MAGIC;
PGDLLEXPORT void _PG_init(void);
}

namespace pg_retention::pg {

int guc_lock_timeout_ms = 1000;
int guc_statement_timeout_ms = 30000;
int guc_default_batch_size = core::kDefaultBatchSize;
int guc_target_batch_time_ms = 200;
int guc_min_batch_size = 100;
int guc_max_batch_size = 100000;
int guc_max_batch_retries = 3;
int guc_max_replication_lag_kb = 64 * 1024;
int guc_max_replication_delay_ms = 0;
int guc_max_archive_backlog = 64;
bool guc_pause_for_autovacuum = true;
int guc_max_rows_per_second = 0;
double guc_analyze_threshold = 0.2;
int guc_xmin_horizon_warning_ms = 5 * 60 * 1000;
bool guc_enabled = true;
int guc_naptime_ms = 10000;
int guc_max_workers = 2;
char* guc_databases = nullptr;
bool guc_enable_debug_waitpoints = false;

namespace {

// How one batch runs: timeouts, sizes, retries.
void DefineBatchSettings() {
  DefineCustomIntVariable(
      "retention.lock_timeout", "Longest wait for a lock by one retention batch.",
      "A batch that waits longer rolls back and is retried after a pause. 0 disables the bound.",
      &guc_lock_timeout_ms, 1000, 0, INT_MAX, PGC_SUSET, GUC_UNIT_MS, NULL, NULL, NULL);

  DefineCustomIntVariable("retention.statement_timeout", "Longest run time of one retention batch.",
                          "A batch that runs longer is cancelled, rolls back and is retried after "
                          "a pause. 0 disables the bound.",
                          &guc_statement_timeout_ms, 30000, 0, INT_MAX, PGC_SUSET, GUC_UNIT_MS,
                          NULL, NULL, NULL);

  DefineCustomIntVariable("retention.default_batch_size",
                          "Rows in the first batch of a run whose policy does not set batch_size.",
                          "Later batches are sized toward retention.target_batch_time.",
                          &guc_default_batch_size, pg_retention::core::kDefaultBatchSize, 1,
                          1000000, PGC_SUSET, 0, NULL, NULL, NULL);

  DefineCustomIntVariable(
      "retention.target_batch_time",
      "Duration the engine sizes batches toward, for policies without a batch_size.", NULL,
      &guc_target_batch_time_ms, 200, 1, 60000, PGC_SUSET, GUC_UNIT_MS, NULL, NULL, NULL);

  DefineCustomIntVariable("retention.min_batch_size",
                          "Smallest batch the engine sizes, for policies without a batch_size.",
                          NULL, &guc_min_batch_size, 100, 1, 1000000, PGC_SUSET, 0, NULL, NULL,
                          NULL);

  DefineCustomIntVariable("retention.max_batch_size",
                          "Largest batch the engine sizes, for policies without a batch_size.",
                          NULL, &guc_max_batch_size, 100000, 1, 10000000, PGC_SUSET, 0, NULL, NULL,
                          NULL);

  DefineCustomIntVariable(
      "retention.max_batch_retries",
      "How often a run retries a batch that hit a lock or statement timeout.",
      "After this many consecutive failures the run stops with status \"error\".",
      &guc_max_batch_retries, 3, 0, 100, PGC_SUSET, 0, NULL, NULL, NULL);
}

// What slows a run down: replication, archive backlog, autovacuum, rate,
// statistics and the xmin horizon warning.
void DefineThrottleSettings() {
  DefineCustomIntVariable(
      "retention.max_replication_lag",
      "Replay lag of a streaming standby above which runs wait before their next batch.",
      "0 disables the check.", &guc_max_replication_lag_kb, 64 * 1024, 0, INT_MAX, PGC_SUSET,
      GUC_UNIT_KB, NULL, NULL, NULL);

  DefineCustomIntVariable(
      "retention.max_replication_delay",
      "Replay delay of a streaming standby above which runs wait before their next batch.",
      "0 disables the check.", &guc_max_replication_delay_ms, 0, 0, INT_MAX, PGC_SUSET, GUC_UNIT_MS,
      NULL, NULL, NULL);

  DefineCustomIntVariable(
      "retention.max_archive_backlog",
      "WAL files waiting for the archiver above which runs wait before their next batch.",
      "0 disables the check.", &guc_max_archive_backlog, 64, 0, INT_MAX, PGC_SUSET, 0, NULL, NULL,
      NULL);

  DefineCustomBoolVariable("retention.pause_for_autovacuum",
                           "Makes runs wait while autovacuum works on their table.", NULL,
                           &guc_pause_for_autovacuum, true, PGC_SUSET, 0, NULL, NULL, NULL);

  DefineCustomIntVariable("retention.max_rows_per_second",
                          "Rows per second all runs in the cluster may remove together.",
                          "0 means no limit. Needs shared_preload_libraries.",
                          &guc_max_rows_per_second, 0, 0, INT_MAX, PGC_SIGHUP, 0, NULL, NULL, NULL);

  DefineCustomRealVariable(
      "retention.analyze_threshold",
      "Fraction of a table a run must remove for the run to ANALYZE the table.",
      "0 turns the ANALYZE off.", &guc_analyze_threshold, 0.2, 0.0, 1.0, PGC_SUSET, 0, NULL, NULL,
      NULL);

  DefineCustomIntVariable(
      "retention.xmin_horizon_warning",
      "Age of a transaction holding back the xmin horizon at which runs report it.",
      "Rows a run deletes cannot be vacuumed away while such a transaction lives. "
      "0 turns the report off.",
      &guc_xmin_horizon_warning_ms, 5 * 60 * 1000, 0, INT_MAX, PGC_SUSET, GUC_UNIT_MS, NULL, NULL,
      NULL);
}

// The background workers: on or off, how often, how many, where.
void DefineWorkerSettings() {
  DefineCustomBoolVariable("retention.enabled", "Lets the background scheduler start policy runs.",
                           "Turning it off lets a running batch finish and starts nothing new.",
                           &guc_enabled, true, PGC_SIGHUP, 0, NULL, NULL, NULL);

  DefineCustomIntVariable(
      "retention.naptime",
      "Longest sleep of the background scheduler between checks for due policies.", NULL,
      &guc_naptime_ms, 10000, 100, 3600 * 1000, PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);

  DefineCustomIntVariable(
      "retention.max_workers",
      "How many policies the background scheduler may run at once in the whole cluster.", NULL,
      &guc_max_workers, 2, 1, 1024, PGC_SIGHUP, 0, NULL, NULL, NULL);

  DefineCustomStringVariable(
      "retention.databases",
      "Databases the background scheduler serves (comma-separated); empty means all.",
      "Databases without the extension are skipped in any case.", &guc_databases, "", PGC_SIGHUP,
      GUC_LIST_INPUT, NULL, NULL, NULL);

  DefineCustomBoolVariable(
      "retention.enable_debug_waitpoints",
      "Makes the engine stop at test waitpoints held by retention_internal.debug_waitpoint_enable().",
      "For tests only.", &guc_enable_debug_waitpoints, false, PGC_SIGHUP, 0, NULL, NULL, NULL);
}

}  // namespace

}  // namespace pg_retention::pg

void _PG_init(void) {
  using namespace pg_retention::pg;  // block scope only (scripts/lint.py)
  DefineBatchSettings();
  DefineThrottleSettings();
  DefineWorkerSettings();
  DefineMonitoringSettings();
  MarkGUCPrefixReserved("retention");

  InstallRoleHooks();

  // The scheduler exists only when preloaded, and never in binary upgrade
  // mode (pg_upgrade), where nothing may run.
  if (process_shared_preload_libraries_in_progress && !IsBinaryUpgrade) {
    RequestSharedState();
    RegisterLauncher();
  }
}
