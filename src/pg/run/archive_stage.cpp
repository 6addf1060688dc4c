// archive_stage.cpp: see archive_stage.hpp. Transactions of the stage:
//
//   txn 1: read archive_retain fresh, record the stage's run row
//          (stage 'archive', status running)                      -> commit
//   txn k: wait for the rate limits and the health throttle, then one
//          batch inside a subtransaction (ExecuteBatch on the derived
//          plan); a lock or batch statement timeout, deadlock or
//          serialization failure is retried after a backoff    -> commit
//   last:  record the outcome and the stage's counters          -> commit
//
// Each batch deletes only archived rows that are past archive_retain at the
// stage's cutoff (fixed when the stage starts) and re-checks it in its own
// statement; a cancelled or failed batch rolls back whole, so a stage cut
// short leaves every row it did not commit in the archive.
#include "pg/run/archive_stage.hpp"

#include "core/archive_stage.hpp"
#include "core/partition_plan.hpp"
#include "core/backoff.hpp"
#include "core/rate_limit.hpp"
#include "pg/module/guard.hpp"
#include "pg/module/gucs.hpp"
#include "pg/module/session.hpp"
#include "pg/module/waitpoint.hpp"
#include "pg/policy/archive_partitions.hpp"
#include "pg/policy/archive_retain.hpp"
#include "pg/run/batch_executor.hpp"
#include "pg/run/health.hpp"
#include "pg/run/policy_lock.hpp"
#include "pg/run/schedule_gate.hpp"
#include "pg/run/run_engine.hpp"
#include "pg/module/subtransaction.hpp"
#include "pg/workers/shared_state.hpp"

extern "C" {
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "common/pg_prng.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "pg/pg_compat.h"
}

namespace pg_retention::pg {

namespace {

// The stage's own snapshot bookkeeping (the purge stage has committed and
// popped its own before the stage starts).
bool stage_snapshot = false;
int64_t stage_run_id = 0;

void StageSnapshot() {
  if (!ActiveSnapshotSet()) {
    PushActiveSnapshot(GetTransactionSnapshot());
    stage_snapshot = true;
  }
}

// Batches commit asynchronously (each is atomic; a crash undoes whole
// batches only), the stage's records durably.
void StageCommit(bool keep_going, bool durable) {
  if (stage_snapshot) {
    PopActiveSnapshot();
    stage_snapshot = false;
  }
  if (!durable)
    (void) set_config_option("synchronous_commit", "off", PGC_USERSET, PGC_S_SESSION,
                             GUC_ACTION_LOCAL, true, 0, false);
  SPI_commit();
  if (keep_going) StageSnapshot();
}

// A cancel or termination noticed while the stage sleeps is recorded before
// it is raised; the counts recorded so far are exact.
void StageSleep(int64_t ms) {
  if (ms <= 0) return;
  (void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, static_cast<long>(ms),
                   PG_WAIT_EXTENSION);
  ResetLatch(MyLatch);
  if (stage_run_id != 0 && InterruptPending && (QueryCancelPending || ProcDiePending)) {
    HOLD_INTERRUPTS();
    StageSnapshot();
    MarkRunInterrupted(
        stage_run_id,
        unpack_sql_state(ProcDiePending ? ERRCODE_ADMIN_SHUTDOWN : ERRCODE_QUERY_CANCELED),
        "the archive stage was interrupted between batches");
    StageCommit(false, true);
    RESUME_INTERRUPTS();
  }
  CHECK_FOR_INTERRUPTS();
}

struct Stage {
  const PolicyRecord* policy;
  PolicyRecord* derived;  // the archive table as a delete-mode source
  RunPlan* plan;
  int64_t max_rows;
  int progress_slot;
  bool worker;           // the scheduler's run (activity reported)
  bool scheduled;        // follows the schedule: the kill switch applies
  TimestampTz deadline;  // the policy's max_runtime, from the stage's start
  int64_t rate_next;     // the policy's own rows-per-second limiter
  int64_t deleted;
  int32_t batches;
  int32_t retries;
  int failures;
  const char* retry_sqlstate;
  const char* retry_message;
  ErrorData* error;
  BatchTimeout timeout;  // the stage's batch statement timeout
  bool partial;
  bool walk_finished;
};

// The archive table as a policy of its own: expiry archived_at, retain
// archive_retain, delete mode, no filter, no saved cursor. The owner and
// time zone stay the policy's, so every check a batch makes applies.
PolicyRecord* DerivedPolicy(const PolicyRecord* policy, Oid archive_relid, uintptr_t retain,
                            int64_t cutoff) {
  PolicyRecord* d = static_cast<PolicyRecord*>(palloc(sizeof(PolicyRecord)));
  memcpy(d, policy, sizeof(PolicyRecord));
  d->relid = archive_relid;
  d->expires_at = pstrdup("archived_at");
  d->filter = nullptr;
  d->retain = retain;
  d->mode = core::Mode::kDelete;
  d->archive_relid = InvalidOid;
  d->replicate_deletes = true;
  d->ncursor = 0;
  d->cursor = nullptr;
  d->cursor_kind = nullptr;
  d->cutoff = cutoff;
  d->ncolumns = 1;
  d->column_names = static_cast<char**>(palloc(sizeof(char*)));
  d->column_names[0] = pstrdup("archived_at");
  d->column_attnums = static_cast<int16_t*>(palloc(sizeof(int16_t)));
  d->column_attnums[0] = get_attnum(archive_relid, "archived_at");
  return d;
}

void SetStage(int64_t run_id) {
  Oid types[1] = {INT8OID};
  Datum values[1] = {Int64GetDatum(run_id)};
  ExecCatalog("UPDATE retention.run_history SET stage = 'archive' WHERE id = $1", 1, types, values,
              NULL, 0);
}

// The stage's counters in policy_state, apart from the purge stage's.
void RecordStageOutcome(int32_t policy_id, bool failed, bool ok, int64_t deleted) {
  Oid types[4] = {INT4OID, BOOLOID, BOOLOID, INT8OID};
  Datum values[4] = {Int32GetDatum(policy_id), BoolGetDatum(failed), BoolGetDatum(ok),
                     Int64GetDatum(deleted)};
  ExecCatalog(
      "UPDATE retention.policy_state SET archive_runs_total = archive_runs_total + 1,"
      " archive_failed_runs_total = archive_failed_runs_total + CASE WHEN $2 THEN 1 ELSE 0 END,"
      " archive_rows_deleted_total = archive_rows_deleted_total + $4,"
      " archive_last_success_at = CASE WHEN $3 THEN clock_timestamp()"
      "                                 ELSE archive_last_success_at END"
      " WHERE policy_id = $1",
      4, types, values, NULL, 0);
}

// After a failed attempt: true when it is retried (a transient error or the
// batch's own statement timeout, within retention.max_batch_retries).
bool StageRetry(Stage* s) {
  ErrorData* error = s->error;
  DisarmBatchTimeout(&s->timeout);
  bool batch_timeout =
      error->sqlerrcode == ERRCODE_QUERY_CANCELED && OurStatementTimeoutExpired(&s->timeout);
  bool transient = IsTransient(error->sqlerrcode);
  if (!(transient || batch_timeout) || s->failures >= guc_max_batch_retries) return false;
  s->failures++;
  s->retries++;
  s->retry_sqlstate = pstrdup(unpack_sql_state(error->sqlerrcode));
  s->retry_message = pstrdup(error->message);
  ereport(LOG, (errmsg("retention policy \"%s\": archive stage batch failed, retrying: %s",
                       s->policy->name, error->message)));
  FreeErrorData(error);
  s->error = nullptr;
  StageCommit(false, true);
  StageSleep(BackoffMs(s->failures));
  StageSnapshot();
  return true;
}

// The scheduler's kill switch, for runs that follow the schedule (the
// scheduler's, run_due()'s): the same gate as the purge stage's.
bool StageSwitchedOff(bool scheduled) { return scheduled && !ScheduledRunsAllowed(); }

// Before a batch: the policy's and the cluster's rate limits, then the
// health throttle. False when the stage must stop (out of time, switched
// off) while waiting.
bool WaitForTurn(Stage* s, int64_t limit) {
  TimestampTz now = GetCurrentTimestamp();
  CoreError err;
  core::RateReservation own;
  if (!CallCoreInto(&err, core::ReserveRows, &own, s->rate_next, static_cast<int64_t>(now), limit,
                    static_cast<int64_t>(s->policy->max_rows_per_second)))
    RaiseCoreError(&err);
  s->rate_next = own.next_at_us;
  TimestampTz start = Max(own.start_at_us, ReserveClusterRows(limit, guc_max_rows_per_second, now));
  if (start > now) {
    StageCommit(false, true);
    StageSleep((start - now + 999) / 1000);
    StageSnapshot();
  }
  for (;;) {
    HealthReport health = CheckHealth(s->derived->relid);
    ProgressThrottle(s->progress_slot, health.throttle_reason);
    if (health.throttle_reason == nullptr) return true;
    if ((s->deadline != 0 && GetCurrentTimestamp() >= s->deadline) ||
        StageSwitchedOff(s->scheduled)) {
      ProgressThrottle(s->progress_slot, nullptr);
      return false;
    }
    StageCommit(false, true);
    StageSleep(Min(1000, guc_naptime_ms));
    StageSnapshot();
  }
}

// One batch in its subtransaction; false when the stage stops (an error that
// is not retried is left in s->error).
bool OneBatch(Stage* s, int64_t limit) {
  if (s->plan == nullptr) {
    s->error = InSubtransaction([&]() {
      CheckArchiveStageTable(s->policy->name, s->policy->owner, s->derived->relid);
      s->plan = BuildRunPlan(s->derived, &s->timeout);
    });
    if (s->error != nullptr) return StageRetry(s);
  }
  Waitpoint("archive_stage_before_batch");
  BatchResult result;
  s->error = InSubtransaction([&]() {
    CheckArchiveStageTable(s->policy->name, s->policy->owner, s->derived->relid);
    ExecuteBatch(s->plan, limit, &s->timeout, &result);
    if (!PolicyLockHeld(s->policy->id))
      ereport(ERROR,
              (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
               errmsg("retention policy \"%s\" lost its run lock during a batch", s->policy->name),
               errdetail("Code that the batch ran released the session's advisory "
                         "locks, for example with pg_advisory_unlock_all().")));
    Waitpoint("archive_stage_before_commit");
  });
  if (s->error != nullptr) return StageRetry(s);
  s->failures = 0;
  s->deleted += result.deleted;
  s->batches++;
  RecordBatch(stage_run_id, result.deleted, 0);
  StageCommit(true, false);
  ProgressUpdate(s->progress_slot, s->deleted, 0, s->batches);
  s->walk_finished = result.walk_finished;
  return !result.walk_finished;
}

// The batch loop; leaves s->error, s->partial and s->walk_finished set.
void StageLoop(Stage* s) {
  for (;;) {
    CHECK_FOR_INTERRUPTS();
    if (s->batches > 0 &&
        (!OidIsValid(get_extension_oid("pg_retention", true)) || !PolicyExists(s->policy->id))) {
      s->partial = true;
      return;
    }
    int64_t limit = s->policy->batch_size > 0 ? s->policy->batch_size : guc_default_batch_size;
    if (s->max_rows > 0) {
      if (s->deleted >= s->max_rows) {
        s->partial = true;
        return;
      }
      limit = Min(limit, s->max_rows - s->deleted);
    }
    if (s->policy->max_rows_per_second > 0) limit = Min(limit, s->policy->max_rows_per_second);
    if (!WaitForTurn(s, limit)) {
      s->partial = true;
      return;
    }
    if (!OneBatch(s, limit)) return;
    if ((s->deadline != 0 && GetCurrentTimestamp() >= s->deadline) ||
        StageSwitchedOff(s->scheduled)) {
      s->partial = true;
      return;
    }
  }
}

// Points the derived policy at another table of the archive (a partition).
void AimAt(Stage* s, Oid relid) {
  s->derived->relid = relid;
  s->derived->column_attnums[0] = get_attnum(relid, "archived_at");
  s->plan = nullptr;
  s->walk_finished = false;
}

// Detaches and drops one wholly expired partition, in its own transaction,
// as the archive's owner, waiting at most retention.lock_timeout for its
// locks. A lock not granted in time leaves it for the next run. Returns
// false when the stage must stop (s->error).
bool DropPartition(Stage* s, Oid parent, const ArchivePartition* part) {
  int64_t rows = 0;
  s->error = InSubtransaction([&]() {
    CheckArchiveStageTable(s->policy->name, s->policy->owner, part->relid);
    char* parent_name = quote_qualified_identifier(get_namespace_name(get_rel_namespace(parent)),
                                                   get_rel_name(parent));
    int nest = NewGUCNestLevel();
    char timeout[32];
    snprintf(timeout, sizeof(timeout), "%d", guc_lock_timeout_ms);
    SetLocalSetting("lock_timeout", timeout);
    ArmBatchTimeout(&s->timeout);
    Sandbox sandbox;
    BeginSandbox(RelationOwner(parent), s->policy->timezone, &sandbox);
    Waitpoint("archive_stage_before_drop");
    if (SPI_execute(psprintf("ALTER TABLE %s DETACH PARTITION %s", parent_name, part->name), false,
                    0) != SPI_OK_UTILITY)
      elog(ERROR, "could not detach partition %s", part->name);
    if (SPI_execute(psprintf("SELECT pg_catalog.count(*) FROM %s", part->name), true, 0) !=
        SPI_OK_SELECT)
      elog(ERROR, "could not count partition %s", part->name);
    bool isnull;
    rows = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
    if (SPI_execute(psprintf("DROP TABLE %s", part->name), false, 0) != SPI_OK_UTILITY)
      elog(ERROR, "could not drop partition %s", part->name);
    EndSandbox(&sandbox);
    DisarmBatchTimeout(&s->timeout);
    RestoreSettings(nest);
    if (!PolicyLockHeld(s->policy->id))
      ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                      errmsg("retention policy \"%s\" lost its run lock", s->policy->name)));
  });
  if (s->error != nullptr) {
    DisarmBatchTimeout(&s->timeout);
    bool ours =
        s->error->sqlerrcode == ERRCODE_QUERY_CANCELED && OurStatementTimeoutExpired(&s->timeout);
    if (s->error->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE && !ours) return false;
    // Bounded wait: leave it for the next run.
    s->retries++;
    s->retry_sqlstate = pstrdup(unpack_sql_state(s->error->sqlerrcode));
    s->retry_message = psprintf("partition %s: %s", part->name, s->error->message);
    ereport(LOG, (errmsg("retention policy \"%s\": partition %s is not dropped now, next run: %s",
                         s->policy->name, part->name, s->error->message)));
    FreeErrorData(s->error);
    s->error = nullptr;
    return true;
  }
  s->deleted += rows;
  s->batches++;
  RecordBatch(stage_run_id, rows, 0);
  StageCommit(true, false);
  ProgressUpdate(s->progress_slot, s->deleted, 0, s->batches);
  return true;
}

// A partitioned archive: wholly expired range partitions go whole (or wait
// for the next run when locked); those
// that may hold expired rows (a range that starts before the cutoff, the
// DEFAULT partition, unbounded ranges) are row-deleted batch by batch.
void PartitionedStage(Stage* s, Oid parent) {
  int n = 0;
  ArchivePartition* parts = ListArchivePartitions(parent, &n);
  bool* gone = static_cast<bool*>(palloc0(sizeof(bool) * (n + 1)));
  CoreError err;
  for (int i = 0; i < n; ++i) {
    if (!parts[i].has_bounds) continue;
    bool expired = false;
    core::PartitionRange range{parts[i].lower, parts[i].upper};
    if (!CallCoreInto(&err, core::RangeExpired, &expired, range, s->derived->cutoff))
      RaiseCoreError(&err);
    if (!expired) continue;
    // Dropped now, or left for a later run (its lock was not granted in
    // time): never row-deleted, the path partitioning exists to avoid.
    gone[i] = true;
    if (!DropPartition(s, parent, &parts[i])) return;
  }
  for (int i = 0; i < n; ++i) {
    if (gone[i]) continue;
    bool candidate = true;
    if (parts[i].has_bounds) {
      core::PartitionRange range{parts[i].lower, parts[i].upper};
      if (!CallCoreInto(&err, core::RangeMayHoldExpired, &candidate, range, s->derived->cutoff))
        RaiseCoreError(&err);
    }
    if (!candidate) continue;
    AimAt(s, parts[i].relid);
    StageLoop(s);
    if (s->error != nullptr || s->partial) return;
  }
}

// Records how the stage ended; re-raises a cancel that was not ours.
void FinishStage(Stage* s) {
  HOLD_INTERRUPTS();
  RecordTableState(stage_run_id, s->derived->relid, true);
  const char* status = s->partial ? "partial" : "ok";
  const char* sqlstate = s->retry_sqlstate;
  const char* message = s->retry_message;
  bool reraise = false;
  if (s->error != nullptr) {
    status = "error";
    sqlstate = unpack_sql_state(s->error->sqlerrcode);
    message = s->error->message;
    // Only a cancel of this session (raised by ProcessInterrupts), not a
    // query_canceled that the owner's code raises itself (as the purge stage).
    reraise = s->error->sqlerrcode == ERRCODE_QUERY_CANCELED &&
              !OurStatementTimeoutExpired(&s->timeout) && s->error->funcname != nullptr &&
              strcmp(s->error->funcname, "ProcessInterrupts") == 0;
    if (reraise) status = "interrupted";
  }
  FinishRun(stage_run_id, status, s->deleted, 0, s->batches, s->retries, sqlstate, message);
  RecordStageOutcome(s->policy->id, s->error != nullptr, strcmp(status, "ok") == 0, s->deleted);
  StageCommit(false, true);
  stage_run_id = 0;
  RESUME_INTERRUPTS();
  if (reraise) ReThrowError(s->error);
  if (s->error != nullptr)
    ereport(WARNING,
            (errcode(s->error->sqlerrcode),
             errmsg("archive stage of retention policy \"%s\" stopped after an error: %s",
                    s->policy->name, s->error->message),
             s->error->detail ? errdetail("%s", s->error->detail) : 0,
             errhint("The stage was recorded in retention.runs (stage archive); rows of failed "
                     "batches are still in the archive.")));
}

}  // namespace

void RunArchiveStage(const PolicyRecord* policy, int64_t max_rows, const char* trigger,
                     bool follows_schedule, int progress_slot) {
  stage_snapshot = false;
  stage_run_id = 0;
  const bool worker = strcmp(trigger, "worker") == 0;
  StageSnapshot();
  Oid archive_relid = InvalidOid;
  uintptr_t retain = 0;
  int64_t cutoff = 0;
  core::PurgeStageOutcome outcome;
  outcome.extension_dropped = !OidIsValid(get_extension_oid("pg_retention", true));
  outcome.policy_dropped = !outcome.extension_dropped && !PolicyExists(policy->id);
  outcome.archive_mode = outcome.archive_retain_set =
      !outcome.extension_dropped && !outcome.policy_dropped &&
      LoadArchiveStage(policy->id, &archive_relid, &retain, &cutoff);
  outcome.switched_off = StageSwitchedOff(follows_schedule);
  // Partitions ahead of need, at every run of a policy with
  // archive_partition (archive_retain or not).
  if (!outcome.extension_dropped && !outcome.policy_dropped) EnsureArchivePartitions(policy->id);
  bool due = false;
  CoreError err;
  if (!CallCoreInto(&err, core::ArchiveStageDue, &due, outcome)) RaiseCoreError(&err);
  if (!due) {
    StageCommit(false, true);
    return;
  }
  Stage s;
  memset(&s, 0, sizeof(s));
  s.policy = policy;
  s.derived = DerivedPolicy(policy, archive_relid, retain, cutoff);
  s.max_rows = max_rows;
  s.progress_slot = progress_slot;
  s.worker = worker;
  s.scheduled = follows_schedule;
  TimestampTz started_at = GetCurrentTimestamp();
  s.deadline = policy->max_runtime ? started_at + IntervalMicroseconds(policy->max_runtime) : 0;
  stage_run_id = InsertRun(s.derived, trigger, "running", started_at);
  SetStage(stage_run_id);
  RecordTableState(stage_run_id, archive_relid, false);
  StageCommit(true, true);
  ProgressUpdate(progress_slot, 0, 0, 0);
  if (worker)
    pgstat_report_activity(STATE_RUNNING,
                           psprintf("retention policy \"%s\": archive stage", policy->name));
  if (get_rel_relkind(archive_relid) == RELKIND_PARTITIONED_TABLE)
    PartitionedStage(&s, archive_relid);
  else
    StageLoop(&s);
  FinishStage(&s);
}

}  // namespace pg_retention::pg
