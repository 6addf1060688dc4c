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

#include <type_traits>

#include "core/backoff.hpp"
#include "core/batch_sizer.hpp"
#include "core/rate_limit.hpp"
#include "core/run_rules.hpp"
#include "pg/run/archive_stage.hpp"
#include "pg/run/batch_executor.hpp"
#include "pg/policy/catalog.hpp"
#include "pg/module/guard.hpp"
#include "pg/module/gucs.hpp"
#include "pg/run/health.hpp"
#include "pg/run/policy_lock.hpp"
#include "pg/run/replication_origin.hpp"
#include "pg/run/run_metrics.hpp"
#include "pg/run/run_record.hpp"
#include "pg/run/schedule_gate.hpp"
#include "pg/module/session.hpp"
#include "pg/workers/shared_state.hpp"
#include "pg/module/waitpoint.hpp"
#include "pg/module/subtransaction.hpp"

extern "C" {
#include "postgres.h"

#include "access/relation.h"
#include "access/xact.h"
#include "commands/extension.h"
#include "common/pg_prng.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/autovacuum.h"
#include "postmaster/interrupt.h"
#include "storage/lmgr.h"
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

// Shared with the archive stage (run_engine.hpp).
bool IsTransient(int sqlerrcode) {
  return sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE || sqlerrcode == ERRCODE_T_R_DEADLOCK_DETECTED ||
         sqlerrcode == ERRCODE_T_R_SERIALIZATION_FAILURE;
}

int64_t BackoffMs(int failures) {
  CoreError err;
  int64_t delay = 0;
  double draw = pg_prng_double(&pg_global_prng_state);
  if (!CallCore(
          &err,
          [](int n, double random, int64_t* out) {
            core::BackoffSettings settings;
            *out = core::BackoffDelayMs(settings, n, random);
            return core::Status::Ok();
          },
          failures, draw, &delay))
    RaiseCoreError(&err);
  return delay;
}

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

// The scheduler's kill switch, for runs that follow the schedule (the
// scheduler's, run_due()'s): retention.enabled is off or a database-wide
// command (DROP DATABASE, ...) waits for this database (schedule_gate).
bool SwitchedOff(bool scheduled) { return scheduled && !ScheduledRunsAllowed(); }

// A cancel of the caller (pg_cancel_backend, statement_timeout): raised by
// ProcessInterrupts, and not our own batch timeout. It ends the run as
// interrupted and goes on to the caller. query_canceled that a table owner's
// code raises itself is that policy's error like any other: it must not stop
// the caller's other policies (run() without a name, run_due()).
bool IsCancelOfThisSession(const ErrorData* error, const BatchTimeout* timeout) {
  return error->sqlerrcode == ERRCODE_QUERY_CANCELED && !OurStatementTimeoutExpired(timeout) &&
         error->funcname != nullptr && strcmp(error->funcname, "ProcessInterrupts") == 0;
}

// pg_stat_activity.query of a background worker says what it is doing.
void ReportActivity(bool worker, const PolicyRecord* policy, int32_t batch) {
  if (!worker) return;
  char* activity = psprintf("retention policy \"%s\": batch %d", policy->name, batch + 1);
  pgstat_report_activity(STATE_RUNNING, activity);
  pfree(activity);
}

// Everything a run carries from one step to the next: plain values, palloc'd
// memory and PostgreSQL handles only (an error longjmps over this frame).
struct Run {
  PolicyRecord* policy;
  int64_t max_rows;  // <= 0: no limit
  bool worker;
  bool scheduled;  // follows the schedule: the scheduler or run_due()
  int progress_slot;
  RunRecord record;
  RunPlan* plan;
  BatchTimeout timeout;
  MemoryContext batch_context;  // reset before every batch
  bool adaptive;
  core::BatchSizerSettings sizer_settings;
  core::BatchSizerState sizer;
  TimestampTz rate_next;  // this run's own rows-per-second limiter
  TimestampTz deadline;   // max_runtime; 0: none
  TimestampTz healthy_until;
  int failures;           // consecutive
  int32_t retries;
  const char* retry_sqlstate;
  const char* retry_message;
  const char* horizon_warning;  // the first one of this run
  int64_t visited;              // rows the batches visited
  RunTotals totals;
  ErrorData* error;             // the error that ended the run
  bool extension_dropped;
  bool walk_finished;
  bool out_of_time;
  int32_t batches_run_twice;  // copy-first batches that fell back (copy_first.hpp)
};

static_assert(std::is_trivially_destructible<Run>::value, "an error longjmps over a Run");

enum class Step { kGo, kRetry, kStop };

// What a failed, rolled-back attempt leaves behind.
struct RetryNote {
  bool retry;
  const char* sqlstate;
  const char* message;
};

bool CoreShouldRetry(bool transient, int failures, int max_retries) {
  CoreError err;
  bool retry = false;
  if (!CallCoreInto(&err, core::ShouldRetry, &retry, transient, failures, max_retries))
    RaiseCoreError(&err);
  return retry;
}

// Worth another try: a lock or batch statement timeout, deadlock or
// serialization failure, within retention.max_batch_retries. Not a cancel
// that was not our own timeout.
RetryNote RetryAfter(Run* run, ErrorData* error) {
  RetryNote note = {false, nullptr, nullptr};
  DisarmBatchTimeout(&run->timeout);  // the failed attempt may have left it armed
  const bool batch_timeout =
      error->sqlerrcode == ERRCODE_QUERY_CANCELED && OurStatementTimeoutExpired(&run->timeout);
  if (!CoreShouldRetry(IsTransient(error->sqlerrcode) || batch_timeout, run->failures,
                       guc_max_batch_retries))
    return note;
  note.retry = true;
  note.sqlstate = pstrdup(unpack_sql_state(error->sqlerrcode));
  note.message = pstrdup(error->message);
  ereport(LOG, (errmsg("retention policy \"%s\": batch failed, retrying: %s", run->policy->name,
                       error->message)));
  return note;
}

// After a failed attempt: commit, sleep the backoff and try again, or keep
// the error and stop.
Step Failed(Run* run, ErrorData* error) {
  RetryNote note = RetryAfter(run, error);
  if (!note.retry) {
    run->error = error;
    return Step::kStop;
  }
  FreeErrorData(error);
  run->failures++;
  run->retries++;
  run->retry_sqlstate = note.sqlstate;
  run->retry_message = note.message;
  CommitStep(false);
  Sleep(BackoffMs(run->failures));
  EnsureSnapshot();
  return Step::kRetry;
}

// The adaptive batch size's settings; the policy's Interval is converted
// here, before any call into the core.
core::BatchSizerSettings SizerSettingsFor(const PolicyRecord* policy) {
  core::BatchSizerSettings s;
  s.target_us = policy->target_batch_time ? IntervalMicroseconds(policy->target_batch_time)
                                          : static_cast<int64_t>(guc_target_batch_time_ms) * 1000;
  s.min_rows = guc_min_batch_size;
  s.max_rows = guc_max_batch_size;
  return s;
}

// The sizer, through the guard: start (seen nullptr), after a batch, or
// after a failed one (timed_out).
core::BatchSizerState Sizer(const Run* run, const core::BatchObservation* seen, bool timed_out) {
  CoreError err;
  core::BatchSizerState next;
  const core::BatchSizerSettings settings = run->sizer_settings;
  const core::BatchSizerState st = run->sizer;
  const int64_t initial = run->plan->batch_size;
  if (!CallCore(
          &err,
          [](const core::BatchSizerSettings& set, const core::BatchSizerState& state,
             const core::BatchObservation* obs, bool timeout, int64_t first,
             core::BatchSizerState* out) {
            if (timeout)
              *out = core::AfterTimeout(set, state);
            else if (obs == nullptr)
              *out = core::StartBatchSizer(set, first);
            else
              *out = core::AfterBatch(set, state, *obs);
            return core::Status::Ok();
          },
          settings, st, seen, timed_out, initial, &next))
    RaiseCoreError(&err);
  return next;
}

// Step "plan": the statements, built in a subtransaction of their own, under
// the batch bounds, and retried like a batch.
Step PlanStep(Run* run) {
  if (run->plan != nullptr) return Step::kGo;
  RunPlan* plan = nullptr;
  ErrorData* error = InSubtransaction([&]() { plan = BuildRunPlan(run->policy, &run->timeout); });
  if (error != nullptr) return Failed(run, error);
  run->plan = plan;
  if (run->adaptive) run->sizer = Sizer(run, nullptr, false);
  return Step::kGo;
}

// DROP EXTENSION or drop_policy() while the run sleeps between batches: the
// batch that ran is done, nothing new starts.
bool StillWanted(Run* run) {
  if (run->totals.batches == 0) return true;
  if (!OidIsValid(get_extension_oid("pg_retention", true))) {
    run->extension_dropped = true;
    return false;
  }
  if (!PolicyExists(run->policy->id)) {
    run->totals.status = RunStatus::kPartial;
    ereport(NOTICE, (errmsg("retention policy \"%s\" was dropped during its run; the run stops",
                            run->policy->name)));
    return false;
  }
  return true;
}

core::BatchLimit ComposeLimit(const core::BatchLimitInput& in) {
  CoreError err;
  core::BatchLimit limit;
  if (!CallCoreInto(&err, core::ComposeBatchLimit, &limit, in))
    RaiseCoreError(&err);
  return limit;
}

// The policy's own rate limiter, through the guard: a look (removed 0) or
// the payment for a batch's rows removed.
core::RateReservation Reserve(int64_t next_at, int64_t now, int64_t rows, int64_t rate) {
  CoreError err;
  core::RateReservation r;
  if (!CallCore(
          &err,
          [](int64_t next, int64_t at, int64_t removed, int64_t per_second,
             core::RateReservation* out) {
            *out = core::ReserveRows(next, at, removed, per_second);
            out->next_at_us = core::PayForRemoved(next, at, removed, per_second);
            return core::Status::Ok();
          },
          next_at, now, rows, rate, &r))
    RaiseCoreError(&err);
  return r;
}

// Rate limits (the policy's and the cluster's) pace rows removed: wait,
// holding no snapshot, for the time earlier batches paid for.
void WaitForRate(Run* run) {
  TimestampTz now = GetCurrentTimestamp();
  TimestampTz start = Reserve(run->rate_next, now, 0, run->policy->max_rows_per_second).start_at_us;
  start = Max(start, ReserveClusterRows(0, guc_max_rows_per_second, now));
  if (start <= now) return;
  CommitStep(false);
  Sleep((start - now + 999) / 1000);
  EnsureSnapshot();
}

// After a batch: pay for its rows removed, from when it started.
void PayForBatch(Run* run, TimestampTz batch_start, int64_t removed) {
  if (removed <= 0) return;
  run->rate_next =
      Reserve(run->rate_next, batch_start, removed, run->policy->max_rows_per_second).next_at_us;
  (void) ReserveClusterRows(removed, guc_max_rows_per_second, batch_start);
}

void WarnHorizon(Run* run, const char* warning) {
  if (warning == nullptr || run->horizon_warning != nullptr) return;
  run->horizon_warning = warning;
  ereport(WARNING, (errmsg("retention policy \"%s\": %s", run->policy->name, warning),
                    errdetail("Rows this run deletes cannot be vacuumed away, and their space "
                              "cannot be reused, until that transaction ends."),
                    errhint("End the transaction, or look for it in pg_stat_activity or "
                            "pg_prepared_xacts.")));
}

// The health throttle: wait, holding no snapshot, while a signal is over its
// bound. False when the run gives up (max_runtime ran out, or the kill
// switch). A healthy reading holds for 100 ms, so small batches do not pay
// for one check each; not while a streaming standby's lag is watched, where
// every batch looks again, so the lag overshoots its bound by at most one
// batch's WAL.
bool WaitUntilHealthy(Run* run) {
  for (;;) {
    if (run->healthy_until != 0 && GetCurrentTimestamp() < run->healthy_until) return true;
    HealthReport health = CheckHealth(run->policy->relid);
    char* reason = health.throttle_reason;
    ProgressThrottle(run->progress_slot, reason);
    ProgressHorizon(run->progress_slot, health.horizon_warning);
    WarnHorizon(run, health.horizon_warning);
    if (reason == nullptr) {
      run->healthy_until = health.check_every_batch
                               ? 0
                               : TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 100);
      return true;
    }
    run->healthy_until = 0;
    if ((run->deadline != 0 && GetCurrentTimestamp() >= run->deadline) || SwitchedOff(run->scheduled))
      return false;
    if (run->worker)
      pgstat_report_activity(STATE_RUNNING, psprintf("retention policy \"%s\": waiting: %s",
                                                     run->policy->name, reason));
    CommitStep(false);
    Sleep(Min(1000, guc_naptime_ms));
    EnsureSnapshot();
  }
}

// Step "admit": the batch's limit (core/run_rules), then the rate limits and
// the health throttle. False: the run ends as partial.
bool Admit(Run* run, int64_t* limit) {
  core::BatchLimitInput in;
  in.size = run->adaptive ? run->sizer.rows : run->plan->batch_size;
  in.max_rows = run->max_rows;
  in.rows_per_second = run->policy->max_rows_per_second;
  in.removed_so_far = run->totals.rows_deleted;
  in.visited_so_far = run->visited;
  core::BatchLimit composed = ComposeLimit(in);
  if (composed.stop) {
    run->totals.status = RunStatus::kPartial;
    return false;
  }
  *limit = composed.rows;
  WaitForRate(run);
  if (!WaitUntilHealthy(run)) {
    ProgressThrottle(run->progress_slot, nullptr);
    run->out_of_time = run->deadline != 0;
    run->totals.status = RunStatus::kPartial;
    return false;
  }
  return true;
}

// Step "execute": one batch in a subtransaction, its allocations in the
// batch context.
Step ExecuteStep(Run* run, int64_t limit, BatchResult* result, TimestampTz* batch_start) {
  ReportActivity(run->worker, run->policy, run->totals.batches);
  Waitpoint("before_batch");
  MemoryContextReset(run->batch_context);
  *batch_start = GetCurrentTimestamp();
  const PolicyRecord* policy = run->policy;
  ErrorData* error = InSubtransaction([&]() {
    if (!policy->replicate_deletes) BeginOriginBatch();  // replication_origin.hpp
    MemoryContext old = MemoryContextSwitchTo(run->batch_context);
    ExecuteBatch(run->plan, limit, &run->timeout, result);
    MemoryContextSwitchTo(old);
    // Code the batch ran may have called pg_advisory_unlock_all(): then
    // another executor could start, so this batch does not count.
    if (!PolicyLockHeld(policy->id))
      ereport(ERROR,
              (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
               errmsg("retention policy \"%s\" lost its run lock during a batch", policy->name),
               errdetail("Code that the batch ran released the session's advisory locks, "
                         "for example with pg_advisory_unlock_all()."),
               errhint("Remove that call from the table's triggers.")));
    Waitpoint("after_delete_before_commit");
  });
  if (error != nullptr) {
    EndOriginBatch();
    if (run->adaptive) run->sizer = Sizer(run, nullptr, true);
    return Failed(run, error);
  }
  run->failures = 0;
  return Step::kGo;
}

// Step "learn": the sizer learns from the rows the batch visited.
void Learn(Run* run, int64_t limit, const BatchResult* result, TimestampTz batch_start) {
  run->visited += result->visited;
  if (!run->adaptive) return;
  core::BatchObservation seen;
  seen.limit = limit;
  seen.visited = result->visited;
  seen.elapsed_us = static_cast<int64_t>(GetCurrentTimestamp() - batch_start);
  run->sizer = Sizer(run, &seen, false);
}

// Step "record": the batch's rows into the run's history row, in the
// batch's transaction, which commits now.
void RecordStep(Run* run, const BatchResult* result) {
  run->totals.rows_deleted += result->deleted;
  run->totals.rows_archived += result->archived;
  run->totals.batches++;
  if (result->ran_twice) run->batches_run_twice++;
  RecordRunBatch(&run->record, result->deleted, result->archived);
  CommitStep(true, false);
  EndOriginBatch();  // the commit carried the origin; the session's is reset
  ProgressUpdate(run->progress_slot, run->totals.rows_deleted, run->totals.rows_archived,
                 run->totals.batches);
}

// After a batch: on to the next one, unless the walk is finished, max_runtime
// ran out, or the scheduler's kill switch is off.
bool GoOn(Run* run, const BatchResult* result) {
  if (result->walk_finished) {
    run->walk_finished = true;
    return false;
  }
  if ((run->deadline != 0 && GetCurrentTimestamp() >= run->deadline)) {
    run->out_of_time = true;
    run->totals.status = RunStatus::kPartial;
    return false;
  }
  if (SwitchedOff(run->scheduled)) {
    run->totals.status = RunStatus::kPartial;
    return false;
  }
  return true;
}

// The batches: plan, admit, execute, learn, record, until one of them stops.
void Batches(Run* run) {
  for (;;) {
    CHECK_FOR_INTERRUPTS();
    Step step = PlanStep(run);
    if (step == Step::kRetry) continue;
    if (step == Step::kStop || !StillWanted(run)) return;
    int64_t limit = 0;
    if (!Admit(run, &limit)) return;
    BatchResult result;
    TimestampTz batch_start = 0;
    step = ExecuteStep(run, limit, &result, &batch_start);
    if (step == Step::kRetry) continue;
    if (step == Step::kStop) return;
    Learn(run, limit, &result, batch_start);
    PayForBatch(run, batch_start, result.deleted);
    RecordStep(run, &result);
    if (!GoOn(run, &result)) return;
  }
}

// Whether autovacuum will look at the table: on, with statistics to go by,
// and not switched off for the table. A table we cannot lock at once counts
// as looked after.
bool AutovacuumOn(Oid relid) {
  if (!AutoVacuumingActive()) return false;
  if (!ConditionalLockRelationOid(relid, AccessShareLock)) return true;
  bool on = true;
  Relation rel = try_relation_open(relid, NoLock);
  if (rel != nullptr) {
    if (rel->rd_options != nullptr && rel->rd_rel->relkind == RELKIND_RELATION)
      on = reinterpret_cast<StdRdOptions*>(rel->rd_options)->autovacuum.enabled;
    relation_close(rel, NoLock);
  }
  UnlockRelationOid(relid, AccessShareLock);
  return on;
}

// Every autovacuum worker is taken: the table would wait for one.
bool AutovacuumBusy() {
  const char* sql =
      "SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) "
      "pg_catalog.current_setting('autovacuum_max_workers')::pg_catalog.int8 "
      "FROM pg_catalog.pg_stat_activity "
      "WHERE backend_type OPERATOR(pg_catalog.=) 'autovacuum worker'";
  if (SPI_execute(sql, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
    elog(ERROR, "could not count autovacuum workers");
  bool isnull;
  bool busy = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
  SPI_freetuptable(SPI_tuptable);
  return busy && !isnull;
}

bool CoreShouldAnalyze(const core::AnalyzeInput& in) {
  CoreError err;
  bool analyze = false;
  if (!CallCoreInto(&err, core::ShouldAnalyzeAfterRun, &analyze, in))
    RaiseCoreError(&err);
  return analyze;
}

// ANALYZE as the table's owner, under the batch's bounded lock wait and
// statement timeout (it evaluates the owner's index expressions). A failure
// is only logged.
bool Analyze(Run* run) {
  const PolicyRecord* policy = run->policy;
  ErrorData* error = InSubtransaction([&]() {
    char* table = quote_qualified_identifier(get_namespace_name(get_rel_namespace(policy->relid)),
                                             get_rel_name(policy->relid));
    Sandbox sandbox;
    BeginSandbox(RelationOwner(policy->relid), policy->timezone, &sandbox);
    char timeout[32];
    snprintf(timeout, sizeof(timeout), "%d", guc_lock_timeout_ms);
    SetLocalSetting("lock_timeout", timeout);
    ArmBatchTimeout(&run->timeout);
    if (SPI_execute(psprintf("ANALYZE %s", table), false, 0) != SPI_OK_UTILITY)
      elog(ERROR, "could not analyze %s", table);
    DisarmBatchTimeout(&run->timeout);
    EndSandbox(&sandbox);
  });
  if (error == nullptr) return true;
  DisarmBatchTimeout(&run->timeout);
  ereport(WARNING, (errmsg("retention policy \"%s\": ANALYZE after the run failed: %s",
                           policy->name, error->message)));
  FreeErrorData(error);
  return false;
}

// Step "finish", first half: after a big purge the planner's statistics are
// off. The run has published its counts (so n_live_tup is right now and
// autovacuum sees the change); it runs ANALYZE itself only when autovacuum
// will not (core/run_rules: off for the table, or every worker busy).
bool AnalyzeIfWanted(Run* run) {
  core::AnalyzeInput in;
  in.threshold = guc_analyze_threshold;
  in.reltuples_before = run->record.reltuples_before;
  in.rows_removed = run->totals.rows_deleted;
  in.run_failed = run->error != nullptr;
  in.autovacuum_on = false;  // would it analyze at all? Look no further if not.
  if (!CoreShouldAnalyze(in)) return false;
  in.autovacuum_on = AutovacuumOn(run->policy->relid);
  in.autovacuum_busy = in.autovacuum_on && AutovacuumBusy();
  return CoreShouldAnalyze(in) && Analyze(run);
}

// The walk position for the next run: where this one stopped, or cleared
// after a complete pass. Written as the next run reads it: under the
// pinned settings.
void EndingCursor(const Run* run, RunEnding* ending) {
  ending->cursor_kind = nullptr;
  ending->cursor_values = nullptr;
  ending->ncursor = 0;
  if (run->plan == nullptr) return;
  if (run->walk_finished) {
    ending->ncursor = -1;
    return;
  }
  int nest = NewGUCNestLevel();
  PinMeaningSettings(run->policy->timezone);
  const char* kind = nullptr;
  char** values = nullptr;
  int n = CursorAsText(run->plan, &kind, &values);
  RestoreSettings(nest);
  if (n < 0) return;
  ending->cursor_kind = kind;
  ending->cursor_values = values;
  ending->ncursor = n;
}

// Step "finish": ANALYZE if wanted, then the run's end in one write. A
// cancel that arrives meanwhile (the caller's statement_timeout, re-armed
// when the batch timeout was disarmed) must not cut the bookkeeping short: it
// is processed once the run is recorded.
// A copy-first batch runs twice when a row of it was held by another
// session or changed while it was copied: the price is paid again on every
// run while such locks last, so the operator hears of it.
void NoteBatchesRunTwice(const Run* run) {
  if (run->batches_run_twice == 0) return;
  ereport(LOG,
          (errmsg("retention policy \"%s\": %d of %d archive batches ran twice",
                  run->policy->name, run->batches_run_twice, run->totals.batches),
           errdetail("A row of each was held by another session or changed while it was "
                     "copied, so the batch was rolled back and run again with DELETE ... "
                     "RETURNING."),
           errhint("Rows that stay locked for long make every run pay this again.")));
}

RunTotals Finish(Run* run) {
  const PolicyRecord* policy = run->policy;
  if (run->extension_dropped) {
    // Nowhere left to record the run: the history went with the extension.
    CommitStep(false);
    ereport(LOG, (errmsg("retention policy \"%s\": extension pg_retention was dropped during "
                         "the run; the run stops",
                         policy->name)));
    run->totals.status = RunStatus::kPartial;
    return run->totals;
  }
  ReportStatCompat(true);  // before ANALYZE, whose counts ours must not undo
  const bool analyzed = AnalyzeIfWanted(run);
  HOLD_INTERRUPTS();
  ReportStatCompat(true);
  ErrorData* error = run->error;
  RunEnding ending;
  ending.sqlstate = run->retry_sqlstate;
  ending.message = run->retry_message;
  bool reraise = false;
  if (error != nullptr) {
    run->totals.status = RunStatus::kError;
    ending.sqlstate = unpack_sql_state(error->sqlerrcode);
    ending.message = error->message;
    reraise = IsCancelOfThisSession(error, &run->timeout);
  }
  ending.status = reraise ? "interrupted" : RunStatusName(run->totals.status);
  ending.rows_deleted = run->totals.rows_deleted;
  ending.rows_archived = run->totals.rows_archived;
  ending.batches = run->totals.batches;
  ending.retries = run->retries;
  ending.horizon_warning = run->horizon_warning;
  ending.analyzed = analyzed;
  ending.failed = error != nullptr;
  // A partial run cut short by max_runtime waits for its next regular run;
  // one stopped otherwise (max_rows, the kill switch) is due now.
  ending.due_again = run->totals.status == RunStatus::kPartial && !run->out_of_time;
  EndingCursor(run, &ending);
  RecordRunEnd(policy, &run->record, &ending);
  RecordRunMetrics(run->plan, policy, run->record.run_id,
                   error == nullptr && run->totals.status == RunStatus::kOk, error != nullptr,
                   run->record.started_at);
  CommitStep(false);
  RESUME_INTERRUPTS();
  NoteBatchesRunTwice(run);
  if (reraise) ReThrowError(error);
  if (error != nullptr)
    ereport(WARNING,
            (errcode(error->sqlerrcode),
             errmsg("retention policy \"%s\" stopped after an error: %s", policy->name,
                    error->message),
             error->detail ? errdetail("%s", error->detail) : 0,
             errhint("The run was recorded in retention.runs; rows of failed batches are "
                     "still in place.")));
  return run->totals;
}

// Everything after the lock is taken; the caller releases the lock and the
// progress slot. Step "start": the run's first record, committed durably.
RunTotals RunLocked(PolicyRecord* policy, int64_t max_rows, const char* trigger,
                    bool scheduled, int progress_slot) {
  Run run{};
  run.policy = policy;
  run.max_rows = max_rows;
  run.worker = strcmp(trigger, "worker") == 0;
  run.scheduled = scheduled;
  run.progress_slot = progress_slot;
  run.totals.status = RunStatus::kOk;
  run.adaptive = policy->batch_size <= 0;
  run.sizer_settings = SizerSettingsFor(policy);
  run.record = RecordRunStart(policy, trigger);
  current_run_id = run.record.run_id;
  // max_runtime: the run stops at the end of the batch in which it runs out.
  run.deadline =
      policy->max_runtime ? run.record.started_at + IntervalMicroseconds(policy->max_runtime) : 0;
  // A child of the caller's context, which outlives the run's commits.
  run.batch_context =
      AllocSetContextCreate(CurrentMemoryContext, "retention batch", ALLOCSET_DEFAULT_SIZES);
  CommitStep(true);
  Batches(&run);
  MemoryContextDelete(run.batch_context);
  return Finish(&run);
}

// When a worker that found the policy running looks again (core/run_rules).
TimestampTz LookAgainAfterSkip(TimestampTz now, int64_t schedule_us) {
  CoreError err;
  TimestampTz at = now;
  int64_t look_at = now;
  if (!CallCoreInto(&err, core::NextLookAfterSkip, &look_at, static_cast<int64_t>(now),
                    schedule_us))
    RaiseCoreError(&err);
  at = look_at;
  return at;
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
      PostponeAfterSkip(policy->id, LookAgainAfterSkip(now, IntervalMicroseconds(policy->schedule)));
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
    RunArchiveStage(policy, max_rows, trigger, follows_schedule,  // the archive stage (archive_retain)
                    progress_slot);
  }
  PG_CATCH();
  {
    pushed_snapshot = false;  // the abort releases it
    current_run_id = 0;
    EndOriginBatch();
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
