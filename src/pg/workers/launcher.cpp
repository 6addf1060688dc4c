// launcher.cpp: see launcher.hpp. Each pass (every retention.naptime, or
// sooner when woken) lists the databases from pg_database, forgets dropped
// ones, and starts a scheduler for every database that has the extension or
// has not been looked at yet. Schedulers are dynamic workers that are never
// restarted by the postmaster; the launcher decides, so a dropped database
// cannot cause a restart loop.
#include "pg/workers/launcher.hpp"

#include "core/launcher_decision.hpp"
#include "pg/module/guard.hpp"
#include "pg/module/gucs.hpp"
#include "pg/workers/shared_state.hpp"

extern "C" {
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"
#include "utils/wait_event.h"

PGDLLEXPORT void retention_launcher_main(Datum arg);
}

namespace pg_retention::pg {

namespace {

constexpr int kMaxSchedulers = 256;
constexpr int kMaxConcurrentProbes = 2;

struct SchedulerEntry {
  Oid dbid;
  BackgroundWorkerHandle* handle;
  bool probing;  // started before we knew whether the database has the extension
};

SchedulerEntry schedulers[kMaxSchedulers];
int nschedulers = 0;

// When a scheduler was last started for a database: a scheduler that keeps
// failing is started again at most once per naptime, never in a tight loop.
struct LastStart {
  Oid dbid;
  TimestampTz at;
};
LastStart last_starts[kMaxSchedulers];
int nlast_starts = 0;

// When the launcher last started a scheduler for dbid; false if never.
bool LastStart(Oid dbid, TimestampTz* at) {
  for (int i = 0; i < nlast_starts; ++i)
    if (last_starts[i].dbid == dbid) {
      *at = last_starts[i].at;
      return true;
    }
  return false;
}

void NoteStart(Oid dbid, TimestampTz now) {
  for (int i = 0; i < nlast_starts; ++i)
    if (last_starts[i].dbid == dbid) {
      last_starts[i].at = now;
      return;
    }
  if (nlast_starts < kMaxSchedulers) last_starts[nlast_starts++] = {dbid, now};
}

void LauncherExit(int code, Datum arg) { SetLauncherProc(false); }

}  // namespace

bool DatabaseAllowed(const char* name) {
  if (guc_databases == nullptr || guc_databases[0] == '\0') return true;
  char* copy = pstrdup(guc_databases);
  List* names = NIL;
  bool allowed = false;
  if (SplitIdentifierString(copy, ',', &names)) {
    ListCell* lc;
    foreach (lc, names) allowed = allowed || strcmp(static_cast<char*>(lfirst(lc)), name) == 0;
  }
  return allowed;
}

namespace {

// The databases a scheduler may serve now.
int ListDatabases(Oid* out, int max) {
  int n = 0;
  SetCurrentStatementStartTimestamp();
  StartTransactionCommand();
  (void) GetTransactionSnapshot();
  Relation rel = table_open(DatabaseRelationId, AccessShareLock);
  TableScanDesc scan = table_beginscan_catalog(rel, 0, NULL);
  HeapTuple tup;
  while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL && n < max) {
    Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);
    if (!db->datallowconn || db->datistemplate || db->datconnlimit == -2) continue;
    if (!DatabaseAllowed(NameStr(db->datname))) continue;
    out[n++] = db->oid;
  }
  table_endscan(scan);
  table_close(rel, AccessShareLock);
  CommitTransactionCommand();
  return n;
}

bool StartScheduler(Oid dbid, BackgroundWorkerHandle** handle) {
  BackgroundWorker worker;
  memset(&worker, 0, sizeof(worker));
  worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
  worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
  worker.bgw_restart_time = BGW_NEVER_RESTART;
  snprintf(worker.bgw_library_name, BGW_MAXLEN, "pg_retention");
  snprintf(worker.bgw_function_name, BGW_MAXLEN, "retention_scheduler_main");
  snprintf(worker.bgw_name, BGW_MAXLEN, "pg_retention scheduler for database %u", dbid);
  snprintf(worker.bgw_type, BGW_MAXLEN, "pg_retention scheduler");
  worker.bgw_main_arg = ObjectIdGetDatum(dbid);
  worker.bgw_notify_pid = MyProcPid;
  MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
  bool ok = RegisterDynamicBackgroundWorker(&worker, handle);
  MemoryContextSwitchTo(old);
  return ok;
}

// What the launcher knows of dbid, as plain values; the core decides.
core::SchedulerStart DecideStart(Oid dbid, TimestampTz now, int probing) {
  core::SchedulerStartInput in;
  for (int i = 0; i < nschedulers && !in.running; ++i) in.running = schedulers[i].dbid == dbid;
  in.no_free_entry = nschedulers >= kMaxSchedulers;
  in.registered_elsewhere = SchedulerRegistered(dbid);
  in.held = DatabaseHeld(dbid);
  in.state = GetDatabaseState(dbid);
  TimestampTz last = 0;
  in.started_before = LastStart(dbid, &last);
  in.last_start_us = last;
  in.now_us = now;
  in.naptime_us = static_cast<int64_t>(guc_naptime_ms) * 1000;
  in.probing = probing;
  in.max_probes = kMaxConcurrentProbes;
  core::SchedulerStart start = core::SchedulerStart::kNo;
  CoreError err;
  if (!CallCore(
          &err,
          [](const core::SchedulerStartInput& i, core::SchedulerStart* out) {
            *out = core::DecideSchedulerStart(i);
            return core::Status::Ok();
          },
          in, &start))
    RaiseCoreError(&err);
  return start;
}

// One pass: reap stopped schedulers, start missing ones.
void LauncherPass() {
  Oid databases[kMaxSchedulers];
  int ndatabases = ListDatabases(databases, kMaxSchedulers);
  ForgetDatabasesExcept(databases, ndatabases);

  int probing = 0;
  for (int i = 0; i < nschedulers;) {
    pid_t pid;
    bool listed = false;
    for (int d = 0; d < ndatabases && !listed; ++d) listed = databases[d] == schedulers[i].dbid;
    BgwHandleStatus status = GetBackgroundWorkerPid(schedulers[i].handle, &pid);
    if (status == BGWH_STOPPED) {
      pfree(schedulers[i].handle);
      schedulers[i] = schedulers[--nschedulers];
      continue;
    }
    if (!listed) TerminateBackgroundWorker(schedulers[i].handle);
    if (schedulers[i].probing) probing++;
    ++i;
  }

  static bool warned_no_slot = false;
  TimestampTz now = GetCurrentTimestamp();
  for (int d = 0; d < ndatabases; ++d) {
    core::SchedulerStart start = DecideStart(databases[d], now, probing);
    if (start == core::SchedulerStart::kNo) continue;
    bool probe = start == core::SchedulerStart::kProbe;
    BackgroundWorkerHandle* handle;
    if (!StartScheduler(databases[d], &handle)) {
      if (!warned_no_slot)
        ereport(LOG, (errmsg("pg_retention launcher could not start a scheduler: no free "
                             "background worker slot"),
                      errhint("Raise max_worker_processes.")));
      warned_no_slot = true;
      break;
    }
    warned_no_slot = false;
    NoteStart(databases[d], now);
    schedulers[nschedulers].dbid = databases[d];
    schedulers[nschedulers].handle = handle;
    schedulers[nschedulers].probing = probe;
    nschedulers++;
    if (probe) probing++;
  }
}

}  // namespace

void RegisterLauncher() {
  BackgroundWorker worker;
  memset(&worker, 0, sizeof(worker));
  worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
  worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
  worker.bgw_restart_time = 5;
  snprintf(worker.bgw_library_name, BGW_MAXLEN, "pg_retention");
  snprintf(worker.bgw_function_name, BGW_MAXLEN, "retention_launcher_main");
  snprintf(worker.bgw_name, BGW_MAXLEN, "pg_retention launcher");
  snprintf(worker.bgw_type, BGW_MAXLEN, "pg_retention launcher");
  RegisterBackgroundWorker(&worker);
}

}  // namespace pg_retention::pg

void retention_launcher_main(Datum arg) {
  using namespace pg_retention::pg;  // block scope only (scripts/lint.py)
  pqsignal(SIGHUP, SignalHandlerForConfigReload);
  pqsignal(SIGTERM, die);
  BackgroundWorkerUnblockSignals();
  BackgroundWorkerInitializeConnection(NULL, NULL, 0);
  pgstat_report_appname("pg_retention launcher");

  SetLauncherProc(true);
  before_shmem_exit(LauncherExit, (Datum) 0);

  for (;;) {
    CHECK_FOR_INTERRUPTS();
    if (ConfigReloadPending) {
      ConfigReloadPending = false;
      ProcessConfigFile(PGC_SIGHUP);
    }
    LauncherPass();
    (void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, guc_naptime_ms,
                     PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
  }
}
