// run_engine.cpp: see run_engine.hpp. The transaction choreography of a run:
//
//   txn 1: load the policy, take its advisory lock (or record "skipped"),
//          record the run as "running"                           -> commit
//   txn k: one batch inside a subtransaction; a failure rolls back the
//          batch only, is classified, and either retried after a backoff
//          (lock or statement timeout, deadlock, serialization) or ends
//          the run                                                -> commit
//   last:  record the outcome                                     -> commit
//
// The advisory lock is session-level so that it spans the commits; every
// path out of RunPolicy, including an error, releases it.
#include "pg/run/run_engine.hpp"

#include "core/backoff.hpp"
#include "core/batch_sizer.hpp"
#include "core/rate_limit.hpp"
#include "pg/run/batch_executor.hpp"
#include "pg/policy/catalog.hpp"
#include "pg/module/guard.hpp"
#include "pg/module/gucs.hpp"
#include "pg/run/health.hpp"
#include "pg/run/policy_lock.hpp"
#include "pg/run/schedule_gate.hpp"
#include "pg/module/session.hpp"
#include "pg/workers/shared_state.hpp"
#include "pg/module/waitpoint.hpp"

extern "C" {
#include "postgres.h"

#include "access/xact.h"
#include "commands/extension.h"
#include "common/pg_prng.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "storage/latch.h"
#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "utils/syscache.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "pg/pg_compat.h"
}

namespace pg_retention::pg {

namespace {

// Each transaction of a run works under a snapshot the engine pushes itself:
// a background worker has no portal to lend SPI one. It is popped before
// every commit and never held while the run sleeps.
bool pushed_snapshot = false;

// When this run last published table statistics (0: not yet).
TimestampTz last_stats_flush = 0;

// The run in progress in this backend (0: none), so that a cancel noticed
// while it sleeps can be recorded before it is raised.
int64_t current_run_id = 0;

void EnsureSnapshot() {
  if (!ActiveSnapshotSet()) {
    PushActiveSnapshot(GetTransactionSnapshot());
    pushed_snapshot = true;
  }
}

// Commits the current transaction; with keep_going, the next one gets a
// snapshot at once. Batches (durable = false) commit without waiting for the
// WAL flush: each is atomic, so a crash can only undo the latest batches
// whole, and their rows are purged again by the next run. The run's own
// records commit durably, so a crash never loses the "running" row that
// tells what happened. (Transaction-local: nothing changes for the session.)
void CommitStep(bool keep_going, bool durable = true) {
  if (pushed_snapshot) {
    PopActiveSnapshot();
    pushed_snapshot = false;
  }
  if (!durable)
    (void) set_config_option("synchronous_commit", "off", PGC_USERSET, PGC_S_SESSION,
                             GUC_ACTION_LOCAL, true, 0, false);
  SPI_commit();
  // A backend publishes its table statistics only when it goes idle, which a
  // long CALL or a worker run does not: publish the committed batches' dead
  // rows now (after the first batch, then at most twice a second), so that
  // autovacuum can start on the table during the run.
  if (!durable) {
    TimestampTz now = GetCurrentTimestamp();
    if (last_stats_flush == 0 || now >= TimestampTzPlusMilliseconds(last_stats_flush, 500)) {
      ReportStatCompat(true);
      last_stats_flush = now;
    }
  }
  if (keep_going) EnsureSnapshot();
}

bool IsTransient(int sqlerrcode) {
  return sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE || sqlerrcode == ERRCODE_T_R_DEADLOCK_DETECTED ||
         sqlerrcode == ERRCODE_T_R_SERIALIZATION_FAILURE;
}

int64_t BackoffMs(int failures) {
  CoreError err;
  int64_t delay = 0;
  double draw = pg_prng_double(&pg_global_prng_state);
  if (!CallCore(&err, [&]() {
        core::BackoffSettings settings;
        delay = core::BackoffDelayMs(settings, failures, draw);
        return core::Status::Ok();
      }))
    RaiseCoreError(&err);
  return delay;
}

// A cancel or termination that arrives while the run sleeps between
// batches: record the run as interrupted (its counts are already exact)
// before the interrupt is processed. Interrupts are held meanwhile, so the
// recording itself cannot be cancelled half way.
void RecordPendingInterrupt() {
  if (current_run_id == 0 || !InterruptPending || !(QueryCancelPending || ProcDiePending)) return;
  HOLD_INTERRUPTS();
  EnsureSnapshot();
  MarkRunInterrupted(current_run_id, unpack_sql_state(ProcDiePending ? ERRCODE_ADMIN_SHUTDOWN
                                                                     : ERRCODE_QUERY_CANCELED),
                     ProcDiePending ? "terminating the run due to administrator command"
                                    : "canceling the run due to a cancel request");
  CommitStep(false);
  RESUME_INTERRUPTS();
}

void Sleep(int64_t ms) {
  if (ms <= 0) return;
  (void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, static_cast<long>(ms),
                   PG_WAIT_EXTENSION);
  ResetLatch(MyLatch);
  RecordPendingInterrupt();
  CHECK_FOR_INTERRUPTS();
}

// Runs f inside a subtransaction. On failure returns the error (copied into
// the caller's context) with the subtransaction rolled back; nullptr on
// success.
template <typename Fn>
ErrorData* InSubtransaction(Fn&& f) {
  MemoryContext oldcontext = CurrentMemoryContext;
  ResourceOwner oldowner = CurrentResourceOwner;
  ErrorData* volatile error = nullptr;
  BeginInternalSubTransaction(NULL);
  MemoryContextSwitchTo(oldcontext);
  PG_TRY();
  {
    f();
    ReleaseCurrentSubTransaction();
    MemoryContextSwitchTo(oldcontext);
    CurrentResourceOwner = oldowner;
  }
  PG_CATCH();
  {
    MemoryContextSwitchTo(oldcontext);
    error = CopyErrorData();
    FlushErrorState();
    RollbackAndReleaseCurrentSubTransaction();
    MemoryContextSwitchTo(oldcontext);
    CurrentResourceOwner = oldowner;
  }
  PG_END_TRY();
  return error;
}

// After a failed, rolled-back attempt: true when it is worth another try (a
// lock or batch statement timeout, deadlock or serialization failure, within
// retention.max_batch_retries); then the failure is noted, the transaction
// committed and the backoff slept. False for anything else, including a
// cancel that was not our own timeout.
bool RetryAfter(ErrorData* error, const PolicyRecord* policy, int* failures, int32_t* retries,
                const char** retry_sqlstate, const char** retry_message) {
  DisarmBatchTimeout();  // the failed attempt may have left it armed
  bool batch_timeout = error->sqlerrcode == ERRCODE_QUERY_CANCELED && OurStatementTimeoutExpired();
  if (!(IsTransient(error->sqlerrcode) || batch_timeout) || *failures >= guc_max_batch_retries)
    return false;
  (*failures)++;
  (*retries)++;
  *retry_sqlstate = pstrdup(unpack_sql_state(error->sqlerrcode));
  *retry_message = pstrdup(error->message);
  ereport(LOG, (errmsg("retention policy \"%s\": batch failed, retrying: %s", policy->name,
                       error->message)));
  FreeErrorData(error);
  CommitStep(false);
  Sleep(BackoffMs(*failures));
  EnsureSnapshot();
  return true;
}

// The adaptive batch size, through the guard. A policy with a fixed
// batch_size never calls these. target_batch_time: the policy's own target
// (an Interval datum), 0 to follow retention.target_batch_time.
core::BatchSizerSettings SizerSettings(uintptr_t target_batch_time) {
  core::BatchSizerSettings s;
  s.target_us = target_batch_time ? IntervalMicroseconds(target_batch_time)
                                  : static_cast<int64_t>(guc_target_batch_time_ms) * 1000;
  s.min_rows = guc_min_batch_size;
  s.max_rows = guc_max_batch_size;
  return s;
}

core::BatchSizerState SizerStart(uintptr_t target_batch_time, int64_t initial) {
  CoreError err;
  core::BatchSizerState st;
  if (!CallCore(&err, [&]() {
        st = core::StartBatchSizer(SizerSettings(target_batch_time), initial);
        return core::Status::Ok();
      }))
    RaiseCoreError(&err);
  return st;
}

core::BatchSizerState SizerAfter(uintptr_t target_batch_time, const core::BatchSizerState& st,
                                 bool timed_out, int64_t rows, int64_t elapsed_us) {
  CoreError err;
  core::BatchSizerState next;
  if (!CallCore(&err, [&]() {
        core::BatchSizerSettings settings = SizerSettings(target_batch_time);
        next = timed_out ? core::AfterTimeout(settings, st)
                         : core::AfterBatch(settings, st, rows, elapsed_us);
        return core::Status::Ok();
      }))
    RaiseCoreError(&err);
  return next;
}

// The policy's own rate limiter, through the guard.
core::RateReservation Reserve(int64_t next_at, int64_t now, int64_t rows, int64_t rate) {
  CoreError err;
  core::RateReservation r;
  if (!CallCore(&err, [&]() {
        r = core::ReserveRows(next_at, now, rows, rate);
        return core::Status::Ok();
      }))
    RaiseCoreError(&err);
  return r;
}

// A cancel of the caller (pg_cancel_backend, statement_timeout): raised by
// ProcessInterrupts, and not our own batch timeout. It ends the run as
// interrupted and goes on to the caller. query_canceled that a table owner's
// code raises itself is that policy's error like any other: it must not stop
// the caller's other policies (run() without a name, run_due()).
bool IsCancelOfThisSession(const ErrorData* error) {
  return error->sqlerrcode == ERRCODE_QUERY_CANCELED && !OurStatementTimeoutExpired() &&
         error->funcname != nullptr && strcmp(error->funcname, "ProcessInterrupts") == 0;
}

// The scheduler's kill switch, for runs that follow the schedule (the
// scheduler's, run_due()'s): retention.enabled is off or a database-wide
// command (DROP DATABASE, ...) waits for this database (schedule_gate).
bool SwitchedOff(bool scheduled) { return scheduled && !ScheduledRunsAllowed(); }

// pg_stat_activity.query of a background worker says what it is doing.
void ReportActivity(bool worker, const PolicyRecord* policy, int32_t batch) {
  if (!worker) return;
  char* activity = psprintf("retention policy \"%s\": batch %d", policy->name, batch + 1);
  pgstat_report_activity(STATE_RUNNING, activity);
  pfree(activity);
}

// Everything after the lock is taken; the caller releases the lock and the
// progress slot.
RunTotals RunLocked(PolicyRecord* policy, int64_t max_rows, const char* trigger,
                    bool scheduled, int progress_slot) {
  RunTotals totals = {0, 0, 0, RunStatus::kOk};
  const bool worker = strcmp(trigger, "worker") == 0;
  TimestampTz started_at = GetCurrentTimestamp();
  CloseStaleRuns(policy->id);
  int64_t run_id = InsertRun(policy, trigger, "running", started_at);
  current_run_id = run_id;
  RecordTableState(run_id, policy->relid, false);
  double reltuples_before = 0;  // from the catalog cache: no lock, no wait
  if (HeapTuple tup = SearchSysCache1(RELOID, ObjectIdGetDatum(policy->relid))) {
    reltuples_before = ((Form_pg_class) GETSTRUCT(tup))->reltuples;
    ReleaseSysCache(tup);
  }
  CommitStep(true);

  RunPlan* plan = nullptr;
  ErrorData* error = nullptr;
  bool extension_dropped = false;
  bool walk_finished = false;
  bool out_of_time = false;
  TimestampTz healthy_until = 0;
  int64_t policy_rate_next = 0;  // this run's own rows-per-second limiter
  // max_runtime: the run stops at the end of the batch in which it runs out.
  TimestampTz deadline =
      policy->max_runtime ? started_at + IntervalMicroseconds(policy->max_runtime) : 0;
  const bool adaptive = policy->batch_size <= 0;
  core::BatchSizerState sizer;
  int failures = 0;
  int32_t retries = 0;
  const char* retry_sqlstate = nullptr;
  const char* retry_message = nullptr;
  const char* horizon_warning = nullptr;  // the first one of this run
  for (;;) {
    CHECK_FOR_INTERRUPTS();
    // The plan is built in a subtransaction of its own, under the batch
    // bounds, and retried like a batch.
    if (plan == nullptr) {
      error = InSubtransaction([&]() { plan = BuildRunPlan(policy); });
      if (error != nullptr) {
        if (RetryAfter(error, policy, &failures, &retries, &retry_sqlstate, &retry_message)) {
          error = nullptr;
          continue;
        }
        break;
      }
      if (adaptive) sizer = SizerStart(policy->target_batch_time, plan->batch_size);
    }
    // DROP EXTENSION or drop_policy() while the run sleeps between batches:
    // the batch that ran is done, nothing new starts.
    if (totals.batches > 0) {
      if (!OidIsValid(get_extension_oid("pg_retention", true))) {
        extension_dropped = true;
        break;
      }
      if (!PolicyExists(policy->id)) {
        totals.status = RunStatus::kPartial;
        ereport(NOTICE, (errmsg("retention policy \"%s\" was dropped during its run; the run stops",
                                policy->name)));
        break;
      }
    }
    int64_t limit = adaptive ? sizer.rows : plan->batch_size;
    if (max_rows > 0) {
      int64_t left = max_rows - totals.rows_deleted;
      if (left <= 0) {
        totals.status = RunStatus::kPartial;
        break;
      }
      if (left < limit) limit = left;
    }

    // Rate limits: the policy's own, and the cluster's. A batch is never
    // bigger than one second's worth of the policy's rate.
    if (policy->max_rows_per_second > 0 && limit > policy->max_rows_per_second)
      limit = policy->max_rows_per_second;
    {
      TimestampTz now = GetCurrentTimestamp();
      core::RateReservation own =
          Reserve(policy_rate_next, now, limit, policy->max_rows_per_second);
      policy_rate_next = own.next_at_us;
      TimestampTz start = Max(own.start_at_us,
                              ReserveClusterRows(limit, guc_max_rows_per_second, now));
      if (start > now) {
        CommitStep(false);
        Sleep((start - now + 999) / 1000);
        EnsureSnapshot();
      }
    }

    // The health throttle: wait, holding no snapshot, while a signal is over
    // its bound. Running out of max_runtime meanwhile ends the run as partial.
    // A healthy reading holds for 100 ms, so small batches do not pay for
    // one check each; not while a streaming standby's lag is watched, where
    // every batch looks again, so the lag overshoots its bound by at most
    // one batch's WAL.
    bool gave_up = false;
    for (;;) {
      if (healthy_until != 0 && GetCurrentTimestamp() < healthy_until) break;
      HealthReport health = CheckHealth(policy->relid);
      char* reason = health.throttle_reason;
      ProgressThrottle(progress_slot, reason);
      ProgressHorizon(progress_slot, health.horizon_warning);
      if (health.horizon_warning != nullptr && horizon_warning == nullptr) {
        horizon_warning = health.horizon_warning;
        ereport(WARNING,
                (errmsg("retention policy \"%s\": %s", policy->name, horizon_warning),
                 errdetail("Rows this run deletes cannot be vacuumed away, and their space "
                           "cannot be reused, until that transaction ends."),
                 errhint("End the transaction, or look for it in pg_stat_activity or "
                         "pg_prepared_xacts.")));
      }
      if (reason == nullptr) {
        healthy_until = health.check_every_batch
                            ? 0
                            : TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 100);
        break;
      }
      healthy_until = 0;
      if ((deadline != 0 && GetCurrentTimestamp() >= deadline) || SwitchedOff(scheduled)) {
        gave_up = true;
        break;
      }
      if (worker) pgstat_report_activity(STATE_RUNNING, psprintf("retention policy \"%s\": waiting: %s",
                                                                  policy->name, reason));
      CommitStep(false);
      Sleep(Min(1000, guc_naptime_ms));
      EnsureSnapshot();
    }
    if (gave_up) {
      ProgressThrottle(progress_slot, nullptr);
      out_of_time = deadline != 0;
      totals.status = RunStatus::kPartial;
      break;
    }

    ReportActivity(worker, policy, totals.batches);
    Waitpoint("before_batch");
    BatchResult result;
    TimestampTz batch_start = GetCurrentTimestamp();
    error = InSubtransaction([&]() {
      ExecuteBatch(plan, limit, &result);
      // Code the batch ran may have called pg_advisory_unlock_all(): then
      // another executor could start, so this batch does not count.
      if (!PolicyLockHeld(policy->id))
        ereport(ERROR,
                (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                 errmsg("retention policy \"%s\" lost its run lock during a batch",
                        policy->name),
                 errdetail("Code that the batch ran released the session's advisory locks, "
                           "for example with pg_advisory_unlock_all()."),
                 errhint("Remove that call from the table's triggers.")));
      Waitpoint("after_delete_before_commit");
    });
    if (error != nullptr) {
      if (adaptive) sizer = SizerAfter(policy->target_batch_time, sizer, true, 0, 0);
      if (RetryAfter(error, policy, &failures, &retries, &retry_sqlstate, &retry_message)) {
        error = nullptr;
        continue;
      }
      break;
    }
    failures = 0;
    if (adaptive)
      sizer = SizerAfter(policy->target_batch_time, sizer, false, limit,
                         static_cast<int64_t>(GetCurrentTimestamp() - batch_start));
    totals.rows_deleted += result.deleted;
    totals.rows_archived += result.archived;
    totals.batches++;
    RecordBatch(run_id, result.deleted, result.archived);
    CommitStep(true, false);
    ProgressUpdate(progress_slot, totals.rows_deleted, totals.rows_archived, totals.batches);
    if (result.walk_finished) {
      walk_finished = true;
      break;
    }
    if (deadline != 0 && GetCurrentTimestamp() >= deadline) {
      out_of_time = true;
      totals.status = RunStatus::kPartial;
      break;
    }
    // The scheduler's kill switch: the batch that ran is done, nothing new.
    if (SwitchedOff(scheduled)) {
      totals.status = RunStatus::kPartial;
      break;
    }
  }

  if (extension_dropped) {
    // Nowhere left to record the run: the history went with the extension.
    CommitStep(false);
    ereport(LOG, (errmsg("retention policy \"%s\": extension pg_retention was dropped during "
                         "the run; the run stops",
                         policy->name)));
    totals.status = RunStatus::kPartial;
    return totals;
  }

  // After a big purge the planner's statistics are off: ANALYZE the table
  // (as its policy's owner) when the run removed more than
  // retention.analyze_threshold of it. A failed ANALYZE is only logged.
  bool analyzed = false;
  if (error == nullptr && guc_analyze_threshold > 0 && reltuples_before > 0 &&
      totals.rows_deleted >= guc_analyze_threshold * reltuples_before) {
    ErrorData* analyze_error = InSubtransaction([&]() {
      char* table = quote_qualified_identifier(get_namespace_name(get_rel_namespace(policy->relid)),
                                               get_rel_name(policy->relid));
      Sandbox sandbox;
      BeginSandbox(RelationOwner(policy->relid), policy->timezone, &sandbox);
      char timeout[32];  // the same bounded lock wait as a batch
      snprintf(timeout, sizeof(timeout), "%d", guc_lock_timeout_ms);
      SetLocalSetting("lock_timeout", timeout);
      ArmBatchTimeout();  // ANALYZE evaluates the owner's index expressions
      if (SPI_execute(psprintf("ANALYZE %s", table), false, 0) != SPI_OK_UTILITY)
        elog(ERROR, "could not analyze %s", table);
      DisarmBatchTimeout();
      EndSandbox(&sandbox);
    });
    if (analyze_error != nullptr) {
      DisarmBatchTimeout();
      ereport(WARNING, (errmsg("retention policy \"%s\": ANALYZE after the run failed: %s",
                               policy->name, analyze_error->message)));
      FreeErrorData(analyze_error);
    } else {
      analyzed = true;
    }
  }
  // A cancel that arrives now (the caller's statement_timeout, re-armed when
  // the batch timeout was disarmed) must not cut the bookkeeping short: it is
  // processed once the run is recorded.
  HOLD_INTERRUPTS();
  ReportStatCompat(true);
  RecordTableState(run_id, policy->relid, true);
  if (analyzed) RecordAnalyzed(run_id);
  if (horizon_warning != nullptr) RecordHorizonWarning(run_id, horizon_warning);

  const char* sqlstate = retry_sqlstate;
  const char* message = retry_message;
  bool reraise = false;
  if (error != nullptr) {
    totals.status = RunStatus::kError;
    sqlstate = unpack_sql_state(error->sqlerrcode);
    message = error->message;
    reraise = IsCancelOfThisSession(error);
  }
  FinishRun(run_id, reraise ? "interrupted" : RunStatusName(totals.status), totals.rows_deleted,
            totals.rows_archived, totals.batches, retries, sqlstate, message);
  // A partial run that was cut short by max_runtime waits for its next
  // regular run; one stopped otherwise (max_rows, the kill switch) is due now.
  RecordRunOutcome(policy, run_id, error != nullptr,
                   totals.status == RunStatus::kPartial && !out_of_time, started_at,
                   GetCurrentTimestamp(), totals.rows_deleted, totals.rows_archived);
  // The next run resumes where this one stopped; a complete pass resets.
  if (plan != nullptr) {
    const char* kind = nullptr;
    char** values = nullptr;
    // Written as the next run reads it: under the pinned settings.
    int nest = NewGUCNestLevel();
    PinMeaningSettings(policy->timezone);
    int n = walk_finished ? -1 : CursorAsText(plan, &kind, &values);
    RestoreSettings(nest);
    if (walk_finished || n >= 0) SaveRunCursor(policy->id, kind, values, n);
  }
  CommitStep(false);
  RESUME_INTERRUPTS();
  if (reraise) ReThrowError(error);
  if (error != nullptr)
    ereport(WARNING,
            (errcode(error->sqlerrcode),
             errmsg("retention policy \"%s\" stopped after an error: %s", policy->name,
                    error->message),
             error->detail ? errdetail("%s", error->detail) : 0,
             errhint("The run was recorded in retention.runs; rows of failed batches are "
                     "still in place.")));
  return totals;
}

}  // namespace

const char* RunStatusName(RunStatus status) {
  switch (status) {
    case RunStatus::kOk: return "ok";
    case RunStatus::kPartial: return "partial";
    case RunStatus::kSkipped: return "skipped";
    case RunStatus::kError: return "error";
  }
  return "error";
}

RunTotals RunPolicy(const char* name, int64_t max_rows, const char* trigger,
                    bool follows_schedule) {
  pushed_snapshot = false;  // whatever an earlier, failed call left was released by its abort
  last_stats_flush = 0;
  current_run_id = 0;
  EnsureSnapshot();
  RequireMatchingExtensionVersion();
  PolicyRecord* policy = LoadPolicy(name, false);
  if (!CurrentUserManages(policy->owner, policy->relid))
    ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                    errmsg("must be owner of retention policy \"%s\"", policy->name)));

  if (!TryLockPolicy(policy->id)) {
    TimestampTz now = GetCurrentTimestamp();
    (void) InsertRun(policy, trigger, "skipped", now);
    // The scheduler looks again in a minute (or one schedule, if shorter),
    // not at every naptime while somebody else runs the policy.
    if (follows_schedule) {
      int64 wait_us = Min(IntervalMicroseconds(policy->schedule), 60 * USECS_PER_SEC);
      PostponeAfterSkip(policy->id, now + wait_us);
    }
    CommitStep(false);
    ereport(NOTICE, (errmsg("retention policy \"%s\" is already running; skipped", policy->name)));
    RunTotals skipped = {0, 0, 0, RunStatus::kSkipped};
    return skipped;
  }

  RunTotals totals;
  int32_t policy_id = policy->id;
  // Advisory locks user code takes at session level would outlive the run in
  // the caller's session (a pooled connection, the scheduler): release them.
  AdvisoryLockSnapshot* caller_locks = SnapshotAdvisoryLocks();
  int progress_slot = ProgressBegin(MyDatabaseId, policy_id);
  PG_TRY();
  {
    totals = RunLocked(policy, max_rows, trigger, follows_schedule, progress_slot);
  }
  PG_CATCH();
  {
    pushed_snapshot = false;  // the abort releases it
    current_run_id = 0;
    ProgressEnd(progress_slot);
    UnlockPolicy(policy_id);
    // Session-level locks survive the abort: release what user code took.
    MemoryContextSwitchTo(ErrorContext);
    (void) ReleaseAdvisoryLocksTakenSince(caller_locks);
    PG_RE_THROW();
  }
  PG_END_TRY();
  current_run_id = 0;
  ProgressEnd(progress_slot);
  UnlockPolicy(policy_id);
  int left_behind = ReleaseAdvisoryLocksTakenSince(caller_locks);
  if (left_behind > 0)
    ereport(WARNING,
            (errmsg("released %d advisory lock(s) that the run of retention policy \"%s\" "
                    "left in this session",
                    left_behind, name),
             errdetail("Code of the policy's table took them at session level and did not "
                       "release them.")));
  return totals;
}

}  // namespace pg_retention::pg
