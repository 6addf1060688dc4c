// scheduler.cpp: the "pg_retention scheduler" background worker, one per
// database with the extension. Every retention.naptime (or when woken by
// retention.wakeup()) it runs the enabled, unpaused policies that are due
// (retention.policy_state.next_run_at), one after another, each through the
// same engine as CALL retention.run(). A failing policy is recorded and
// retried with backoff; it never stops the others. The scheduler leaves when
// the extension is dropped, and only ever runs on a primary.
#include "core/version.hpp"
#include "pg/policy/catalog.hpp"
#include "pg/module/session.hpp"
#include "pg/module/gucs.hpp"
#include "pg/workers/history_prune.hpp"
#include "pg/workers/launcher.hpp"
#include "pg/run/run_engine.hpp"
#include "pg/run/schedule_gate.hpp"
#include "pg/workers/shared_state.hpp"

extern "C" {
#include "postgres.h"

#include "access/xact.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/wait_event.h"

PGDLLEXPORT void retention_scheduler_main(Datum arg);
}

namespace pg_retention::pg {

namespace {

void SchedulerExit(int code, Datum arg) { ReleaseScheduler(DatumGetObjectId(arg)); }

void ReloadConfigIfAsked() {
  if (ConfigReloadPending) {
    ConfigReloadPending = false;
    ProcessConfigFile(PGC_SIGHUP);
  }
}

// The installed SQL objects are the library's version (not in the middle of
// ALTER EXTENSION ... UPDATE): only then may policies run.
bool versions_matched = true;

// Leaves (exit code 0) when this database no longer needs a scheduler: the
// extension is gone (recorded, so the launcher does not start us again until
// CREATE EXTENSION), or retention.databases no longer lists the database
// (whichever launcher started us).
void LeaveUnlessServed() {
  uint32_t generation = GetDatabaseGeneration(MyDatabaseId);
  SetCurrentStatementStartTimestamp();
  StartTransactionCommand();
  char* version = InstalledExtensionVersion();
  bool exists = version != nullptr;
  bool matched = exists && strcmp(version, core::kExtensionVersion) == 0;
  char* name = get_database_name(MyDatabaseId);
  bool listed = name != nullptr && DatabaseAllowed(name);
  // Log before the commit: name and version live in the transaction's memory.
  if (exists && !matched && versions_matched)
    ereport(LOG, (errmsg("pg_retention scheduler for database \"%s\" waits: extension version %s "
                         "does not match library version %s",
                         name, version, core::kExtensionVersion),
                  errhint("Run ALTER EXTENSION pg_retention UPDATE.")));
  CommitTransactionCommand();
  versions_matched = matched;
  if (!exists) {
    SetDatabaseStateIf(MyDatabaseId, DatabaseState::kNoExtension, generation);
    proc_exit(0);
  }
  if (!listed) proc_exit(0);
}

// Runs one catalog step in its own transaction.
template <typename Fn>
void InTransaction(Fn&& fn) {
  SetCurrentStatementStartTimestamp();
  StartTransactionCommand();
  PushActiveSnapshot(GetTransactionSnapshot());
  SPI_connect();
  fn();
  SPI_finish();
  PopActiveSnapshot();
  CommitTransactionCommand();
}

// Runs one policy; an unexpected error is logged, and the scheduler goes on.
// Everything the run allocates outside its transactions (the non-atomic SPI
// connection puts its memory under PortalContext) lives in one context that
// is deleted afterwards, whichever way the run ends.
void RunOne(const char* name) {
  MemoryContext context = CurrentMemoryContext;
  MemoryContext run_context =
      AllocSetContextCreate(TopMemoryContext, "pg_retention run", ALLOCSET_DEFAULT_SIZES);
  PortalContext = run_context;
  PG_TRY();
  {
    SetCurrentStatementStartTimestamp();
    StartTransactionCommand();
    SPI_connect_ext(SPI_OPT_NONATOMIC);
    // Due when the pass began, but a pg_cron job (run_due) may have run it
    // since: ask again, as run_due() does, so it is not run twice in a row.
    // (A worker has no portal to lend SPI a snapshot: push one for the
    // question, and pop it before the run, which takes its own.)
    PushActiveSnapshot(GetTransactionSnapshot());
    bool due = PolicyIsDue(name);
    PopActiveSnapshot();
    if (due) RunPolicy(name, 0, "worker", /*follows_schedule=*/true);
    SPI_finish();
    CommitTransactionCommand();
  }
  PG_CATCH();
  {
    HOLD_INTERRUPTS();
    MemoryContextSwitchTo(context);
    EmitErrorReport();
    AbortOutOfAnyTransaction();
    FlushErrorState();
    RESUME_INTERRUPTS();
  }
  PG_END_TRY();
  MemoryContextSwitchTo(context);
  PortalContext = NULL;
  MemoryContextDelete(run_context);
  pgstat_report_activity(STATE_IDLE, NULL);
}

void RunDuePolicies(MemoryContext pass_context) {
  MemoryContextReset(pass_context);

  char** names = nullptr;
  int count = 0;
  InTransaction([&]() {
    char** due = ListDuePolicies(&count);
    // SPI memory goes away with SPI_finish: keep copies for this pass.
    MemoryContext old = MemoryContextSwitchTo(pass_context);
    names = static_cast<char**>(palloc0(sizeof(char*) * (count + 1)));
    for (int i = 0; i < count; ++i) names[i] = pstrdup(due[i]);
    MemoryContextSwitchTo(old);
  });

  for (int i = 0; i < count; ++i) {
    CHECK_FOR_INTERRUPTS();
    if (!ScheduledRunsAllowed()) break;  // the same gate as run_due()
    if (!TryAcquireRunSlot(guc_max_workers)) break;  // retry at the next pass
    RunOne(names[i]);
    ReleaseRunSlot();
  }
}

}  // namespace

}  // namespace pg_retention::pg

void retention_scheduler_main(Datum arg) {
  using namespace pg_retention::pg;  // block scope only (scripts/lint.py)
  Oid dbid = DatumGetObjectId(arg);
  pqsignal(SIGHUP, SignalHandlerForConfigReload);
  pqsignal(SIGTERM, die);
  BackgroundWorkerUnblockSignals();
  BackgroundWorkerInitializeConnectionByOid(dbid, InvalidOid, 0);
  pgstat_report_appname("pg_retention scheduler");

  LeaveUnlessServed();
  SetDatabaseState(dbid, DatabaseState::kHasExtension);
  if (!ClaimScheduler(dbid)) proc_exit(0);  // this database already has one
  before_shmem_exit(SchedulerExit, ObjectIdGetDatum(dbid));

  MemoryContext pass_context = AllocSetContextCreate(
      TopMemoryContext, "pg_retention scheduler pass", ALLOCSET_DEFAULT_SIZES);
  // Set inside PG_TRY and read after it (the next pass): volatile, so that a
  // longjmp back to PG_CATCH cannot leave a stale register copy.
  volatile bool closed_stale_runs = false;
  for (;;) {
    CHECK_FOR_INTERRUPTS();
    ReloadConfigIfAsked();
    // DROP DATABASE and friends need the database alone: leave; the
    // launcher starts a scheduler again once the command's transaction ends.
    if (DatabaseHeld(dbid)) proc_exit(0);
    // A failing pass (say, a catalog the module does not understand) is
    // logged and tried again after a naptime; the scheduler stays up.
    PG_TRY();
    {
      LeaveUnlessServed();
      if (!closed_stale_runs) {
        // Runs a crash, a kill or a failover left "running" are over.
        InTransaction([]() {
          int closed = CloseInterruptedRuns();
          if (closed > 0)
            ereport(LOG,
                    (errmsg_plural("pg_retention closed %d interrupted run in database \"%s\"",
                                   "pg_retention closed %d interrupted runs in database \"%s\"",
                                   closed, closed, get_database_name(MyDatabaseId))));
        });
        closed_stale_runs = true;
      }
      if (guc_enabled && versions_matched) RunDuePolicies(pass_context);
      if (versions_matched) PruneHistoryStep();
    }
    PG_CATCH();
    {
      HOLD_INTERRUPTS();
      MemoryContextSwitchTo(TopMemoryContext);
      EmitErrorReport();
      AbortOutOfAnyTransaction();
      FlushErrorState();
      ReleaseRunSlot();
      RESUME_INTERRUPTS();
    }
    PG_END_TRY();
    (void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, guc_naptime_ms,
                     PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
  }
}
