// shared_state.hpp: the little state pg_retention keeps in shared memory
// (only when loaded through shared_preload_libraries):
//   - which databases have the extension, so the launcher knows where to run
//     a scheduler (CREATE EXTENSION tells it at once);
//   - the progress of every run in flight, for retention.status, readable
//     without waiting on the run;
//   - how many policies run right now, for retention.max_workers.
// Without preloading every function here is a harmless no-op.
#pragma once

#include <cstdint>

#include "core/launcher_decision.hpp"
#include "pg/module/pg_fwd.hpp"

namespace pg_retention::pg {

// _PG_init, while shared_preload_libraries is processed.
void RequestSharedState();
bool SharedStateAvailable();

// Databases.
using DatabaseState = core::DatabaseState;  // core/launcher_decision.hpp
void SetDatabaseState(Oid dbid, DatabaseState state);
// Each SetDatabaseState bumps the database's generation. A scheduler reads
// it before looking for the extension and records "no extension" only if
// no CREATE EXTENSION has committed since (SetDatabaseStateIf).
uint32_t GetDatabaseGeneration(Oid dbid);
void SetDatabaseStateIf(Oid dbid, DatabaseState state, uint32_t generation);
DatabaseState GetDatabaseState(Oid dbid);
void ForgetDatabasesExcept(const Oid* keep, int nkeep);

// Database-wide commands (DROP DATABASE, CREATE DATABASE ... TEMPLATE,
// ALTER DATABASE ... RENAME / SET TABLESPACE) need the database to
// themselves. HoldDatabase marks dbid as held by this backend and wakes its
// scheduler, which leaves at its next check; it returns that scheduler's pid
// (0: none). The launcher starts no scheduler for a held database while the
// holder lives. ReleaseDatabaseHolds drops this backend's holds (at the end
// of its transaction, or when it exits) and wakes the launcher.
int HoldDatabase(Oid dbid);
void ReleaseDatabaseHolds();
bool DatabaseHeld(Oid dbid);

// The launcher's wake-up call (CREATE EXTENSION, retention.wakeup()).
void SetLauncherProc(bool running);
void WakeLauncher();
// One scheduler per database: ClaimScheduler registers this process as the
// database's scheduler (to be woken by retention.wakeup()) and fails when
// another live one holds the claim, e.g. one a restarted launcher did not
// know about. ReleaseScheduler drops the claim.
bool ClaimScheduler(Oid dbid);
void ReleaseScheduler(Oid dbid);
bool SchedulerRegistered(Oid dbid);
void WakeSchedulers(Oid dbid);

// Run progress. Returns a slot number or -1 when none is free.
int ProgressBegin(Oid dbid, int32_t policy_id);
void ProgressUpdate(int slot, int64_t rows_deleted, int64_t rows_archived, int32_t batches);
void ProgressEnd(int slot);
// Why the run waits before its next batch; nullptr or "" when it does not.
void ProgressThrottle(int slot, const char* reason);
// Which transaction holds back the xmin horizon; nullptr or "" when none.
void ProgressHorizon(int slot, const char* warning);

constexpr int kThrottleReasonBytes = 128;
constexpr int kHorizonWarningBytes = 128;

struct ProgressRow {
  int32_t policy_id;
  int32_t pid;
  int64_t rows_deleted;
  int64_t rows_archived;
  int32_t batches;
  char throttle_reason[kThrottleReasonBytes];
  char horizon_warning[kHorizonWarningBytes];
};
// Copies the runs in flight of database dbid into rows (capacity max).
int ProgressSnapshot(Oid dbid, ProgressRow* rows, int max);

// The cluster-wide rows-per-second limiter: reserves `rows` and returns the
// TimestampTz at which the batch may start (now, without preloading).
int64_t ReserveClusterRows(int64_t rows, int64_t rows_per_second, int64_t now);

// Cluster-wide run slots for retention.max_workers.
bool TryAcquireRunSlot(int max_workers);
void ReleaseRunSlot();

}  // namespace pg_retention::pg
