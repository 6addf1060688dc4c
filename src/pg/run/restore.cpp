// restore.cpp: CALL retention.restore() (see restore.hpp). The transaction
// choreography follows a run's (run_engine.cpp), smaller:
//
//   txn 1: load the policy, check the caller, build the statements (the
//          filter is checked like a policy's, against the archive), take
//          the policy's lock (or refuse), record the run 'running'  -> commit
//   txn k: one batch in a subtransaction, as the table's owner in the
//          sandbox; its rows are added to the run's history row    -> commit
//          an error rolls back the batch, is recorded, and is raised
//   last:  count what stays in the archive, record the outcome      -> commit
#include "pg/run/restore.hpp"

#include "core/policy_model.hpp"
#include "core/restore_statement.hpp"
#include "pg/module/guard.hpp"
#include "pg/module/gucs.hpp"
#include "pg/module/session.hpp"
#include "pg/policy/archive_table.hpp"
#include "pg/policy/catalog.hpp"
#include "pg/policy/expression.hpp"
#include "pg/policy/relation_info.hpp"
#include "pg/run/batch_executor.hpp"
#include "pg/run/policy_lock.hpp"
#include "pg/module/subtransaction.hpp"

extern "C" {
#include "postgres.h"

#include "catalog/pg_class.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

PGDLLEXPORT Datum retention_restore(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(retention_restore);
}

namespace pg_retention::pg {

namespace {

struct RestorePlan {
  PolicyRecord* policy;
  char* archive_name;  // quoted, qualified
  char* batch_sql;     // $1: most rows
  char* count_sql;     // (restorable, kept)
  int32_t batch_size;
};

// As in run_engine.cpp: each transaction gets a snapshot we push ourselves,
// popped before every commit.
bool pushed_snapshot = false;

void EnsureSnapshot() {
  if (!ActiveSnapshotSet()) {
    PushActiveSnapshot(GetTransactionSnapshot());
    pushed_snapshot = true;
  }
}

void CommitStep(bool keep_going) {
  if (pushed_snapshot) {
    PopActiveSnapshot();
    pushed_snapshot = false;
  }
  SPI_commit();
  if (keep_going) EnsureSnapshot();
}

// The source columns a restore writes: all but generated ones.
int RestoredColumns(const SourceInfo* source, char*** quoted) {
  *quoted = static_cast<char**>(palloc0(sizeof(char*) * (source->ncolumns + 1)));
  int n = 0;
  for (int i = 0; i < source->ncolumns; ++i) {
    AttrNumber attnum = get_attnum(source->relid, source->column_names[i]);
    if (get_attgenerated(source->relid, attnum)) continue;
    (*quoted)[n++] = source->column_quoted[i];
  }
  return n;
}

// The two statements, through the guard.
void BuildStatements(RestorePlan* plan, const SourceInfo* source, const char* filter,
                     bool has_archived_at) {
  char** columns;
  int ncolumns = RestoredColumns(source, &columns);
  const char* archive = plan->archive_name;
  char* out[2] = {nullptr, nullptr};
  bool partitioned =  // a partitioned archive is read with its partitions
      get_rel_relkind(plan->policy->archive_relid) == RELKIND_PARTITIONED_TABLE;
  CoreError err;
  if (!CallCore(
          &err,
          [](const SourceInfo* src, char** cols, int ncols, const char* archive_name,
             const char* filter_sql, bool archived_at, bool is_partitioned, char** sql) {
            core::RestoreStatementSpec spec;
            spec.source = src->qualified;
            spec.archive = archive_name;
            for (int i = 0; i < ncols; ++i) spec.columns.emplace_back(cols[i]);
            for (int i = 0; i < src->nkeys; ++i)
              spec.key.push_back({src->keys[i].name, src->keys[i].op_schema});
            spec.filter = filter_sql ? filter_sql : "";
            spec.archive_has_archived_at = archived_at;
            spec.archive_partitioned = is_partitioned;
            core::RestoreStatement batch = core::BuildRestoreBatch(spec);
            if (!batch.status.ok()) return batch.status;
            core::RestoreStatement count = core::BuildRestoreCount(spec);
            if (!count.status.ok()) return count.status;
            sql[0] = CoreStrdup(batch.sql);
            sql[1] = CoreStrdup(count.sql);
            return core::Status::Ok();
          },
          source, columns, ncolumns, archive, filter, has_archived_at, partitioned, out)) {
    free(out[0]);
    free(out[1]);
    RaiseCoreError(&err);
  }
  plan->batch_sql = TakeCoreString(out[0]);
  plan->count_sql = TakeCoreString(out[1]);
}

// Checks the policy and the filter and builds the statements. The filter
// is parsed like a policy's filter (AnalyzeUserExpression), against the
// archive table, for the table's owner.
RestorePlan* BuildRestorePlan(PolicyRecord* policy, const char* filter_text) {
  if (policy->mode != core::Mode::kArchive)
    ereport(ERROR,
            (errcode(ERRCODE_WRONG_OBJECT_TYPE),
             errmsg("retention policy \"%s\" does not archive rows", policy->name),
             errdetail("Only a policy in archive mode keeps the rows it removes."),
             errhint("retention.restore() brings back rows from the archive of an archive-mode "
                     "policy.")));
  if (!OidIsValid(policy->archive_relid) || get_rel_name(policy->archive_relid) == nullptr ||
      get_rel_name(policy->relid) == nullptr)
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
                    errmsg("table or archive table of retention policy \"%s\" no longer exists",
                           policy->name)));
  CheckPolicyOwnerOwnsTable(policy->name, policy->owner, policy->relid);
  Oid table_owner = RelationOwner(policy->relid);
  char* filter = nullptr;
  if (filter_text != nullptr && filter_text[0] != '\0') {
    ExpressionOwners owners = {table_owner, policy->owner, policy->timezone};
    filter = AnalyzeUserExpression(policy->archive_relid, filter_text, ExprRole::kFilter, &owners)
                 .canonical;
  }
  RestorePlan* plan = static_cast<RestorePlan*>(palloc0(sizeof(RestorePlan)));
  plan->policy = policy;
  plan->batch_size = policy->batch_size > 0 ? policy->batch_size : guc_default_batch_size;
  plan->archive_name =
      quote_qualified_identifier(get_namespace_name(get_rel_namespace(policy->archive_relid)),
                                 get_rel_name(policy->archive_relid));
  Sandbox sandbox;
  BeginSandbox(table_owner, policy->timezone, &sandbox);
  SourceInfo* source = DescribeSource(policy->relid, nullptr);
  CheckArchiveTable(policy->archive_relid, source, table_owner);
  bool has_archived_at = get_attnum(policy->archive_relid, "archived_at") != InvalidAttrNumber;
  BuildStatements(plan, source, filter, has_archived_at);
  EndSandbox(&sandbox);
  return plan;
}

// Counts, in the sandbox: rows a restore would move now, rows that stay.
void CountRestore(const RestorePlan* plan, int64_t* restorable, int64_t* kept) {
  Sandbox sandbox;
  BeginSandbox(RelationOwner(plan->policy->relid), plan->policy->timezone, &sandbox);
  int rc = SPI_execute(plan->count_sql, true, 0);
  EndSandbox(&sandbox);
  if (rc != SPI_OK_SELECT || SPI_processed != 1)
    elog(ERROR, "retention restore count failed: %s", SPI_result_code_string(rc));
  bool isnull;
  *restorable = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
  *kept = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
  SPI_freetuptable(SPI_tuptable);
}

// Takes the batch's lock on a table (under lock_timeout) or says it is gone.
void LockForBatch(Oid relid, const PolicyRecord* policy) {
  Relation rel = try_relation_open(relid, RowExclusiveLock);
  if (rel == nullptr)
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
                    errmsg("table or archive table of retention policy \"%s\" no longer exists",
                           policy->name)));
  relation_close(rel, NoLock);
}

// One batch of at most limit rows; returns the rows restored. Raises on any
// failure, including a source that took fewer rows than left the archive.
int64_t RestoreBatch(const RestorePlan* plan, int64_t limit, BatchTimeout* batch_timeout) {
  const PolicyRecord* policy = plan->policy;
  // Deferred constraints would fire at commit, outside the sandbox.
  if (SPI_execute("SET CONSTRAINTS ALL IMMEDIATE", false, 0) != SPI_OK_UTILITY)
    elog(ERROR, "could not make constraints immediate");
  int nest = NewGUCNestLevel();
  char timeout[32];
  snprintf(timeout, sizeof(timeout), "%d", guc_lock_timeout_ms);
  SetLocalSetting("lock_timeout", timeout);
  ArmBatchTimeout(batch_timeout);
  LockForBatch(policy->archive_relid, policy);
  LockForBatch(policy->relid, policy);
  CheckPolicyOwnerOwnsTable(policy->name, policy->owner, policy->relid);
  Sandbox sandbox;
  BeginSandbox(RelationOwner(policy->relid), policy->timezone, &sandbox);
  Oid types[1] = {INT8OID};
  Datum values[1] = {Int64GetDatum(limit)};
  int rc = SPI_execute_with_args(plan->batch_sql, 1, types, values, NULL, false, 0);
  EndSandbox(&sandbox);
  DisarmBatchTimeout(batch_timeout);
  RestoreSettings(nest);
  if (OurStatementTimeoutExpired(batch_timeout))
    ereport(ERROR, (errcode(ERRCODE_QUERY_CANCELED),
                    errmsg("canceling retention restore batch due to statement timeout"),
                    errdetail("The batch ran past retention.statement_timeout.")));
  if (rc != SPI_OK_SELECT || SPI_processed != 1)
    elog(ERROR, "retention restore batch returned an unexpected result: %s",
         SPI_result_code_string(rc));
  bool isnull;
  int64_t removed =
      DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
  int64_t restored =
      DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
  SPI_freetuptable(SPI_tuptable);
  if (removed != restored)
    ereport(ERROR,
            (errcode(ERRCODE_TRIGGERED_DATA_CHANGE_VIOLATION),
             errmsg("table \"%s\" took " INT64_FORMAT " of " INT64_FORMAT " restored rows",
                    get_rel_name(policy->relid), restored, removed),
             errdetail("A trigger or rule on the table changed the rows written; the batch was "
                       "rolled back, so every row is still in the archive.")));
  if (!PolicyLockHeld(policy->id))
    ereport(ERROR,
            (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
             errmsg("retention policy \"%s\" lost its run lock during a restore batch",
                    policy->name),
             errdetail("Code that the batch ran released the session's advisory locks, for "
                       "example with pg_advisory_unlock_all().")));
  return restored;
}

void RecordRestoreBatch(int64_t run_id, int64_t rows) {
  Oid types[2] = {INT8OID, INT8OID};
  Datum values[2] = {Int64GetDatum(run_id), Int64GetDatum(rows)};
  ExecCatalog(
      "UPDATE retention.run_history SET rows_restored = rows_restored + $2,"
      " batches = batches + 1 WHERE id = $1",
      2, types, values, NULL, 0);
}

void RecordRestoreKept(int64_t run_id, int64_t kept) {
  Oid types[2] = {INT8OID, INT8OID};
  Datum values[2] = {Int64GetDatum(run_id), Int64GetDatum(kept)};
  ExecCatalog("UPDATE retention.run_history SET rows_kept = $2 WHERE id = $1", 2, types, values,
              NULL, 0);
}

// The batches; a failed one is recorded (the run ends 'error') and raised.
void RestoreBatches(const RestorePlan* plan, int64_t run_id, int64_t max_rows,
                    RestoreTotals* totals) {
  BatchTimeout timeout{};
  for (;;) {
    CHECK_FOR_INTERRUPTS();
    int64_t limit = plan->batch_size;
    if (max_rows > 0) {
      int64_t left = max_rows - totals->rows_restored;
      if (left <= 0) return;
      if (left < limit) limit = left;
    }
    int64_t rows = 0;
    ErrorData* error = InSubtransaction([&]() {
      rows = RestoreBatch(plan, limit, &timeout);
      if (rows > 0) RecordRestoreBatch(run_id, rows);
    });
    if (error != nullptr) {
      DisarmBatchTimeout(&timeout);
      FinishRun(run_id, "error", 0, 0, totals->batches, 0, unpack_sql_state(error->sqlerrcode),
                error->message);
      CommitStep(false);
      ReThrowError(error);
    }
    if (rows == 0) return;
    totals->rows_restored += rows;
    totals->batches++;
    CommitStep(true);
    if (rows < limit) return;  // nothing left but rows others hold
  }
}

// Everything after the lock is taken; the caller releases it.
RestoreTotals RestoreLocked(const RestorePlan* plan, int64_t max_rows) {
  RestoreTotals totals = {0, 0, 0, "ok"};
  PolicyRecord* policy = plan->policy;
  CloseStaleRuns(policy->id);
  int64_t run_id = InsertRun(policy, "restore", "running", GetCurrentTimestamp());
  CommitStep(true);
  RestoreBatches(plan, run_id, max_rows, &totals);
  int64_t left;
  CountRestore(plan, &left, &totals.rows_kept);
  if (left > 0) totals.status = "partial";
  FinishRun(run_id, totals.status, 0, 0, totals.batches, 0, nullptr, nullptr);
  RecordRestoreKept(run_id, totals.rows_kept);
  CommitStep(false);
  return totals;
}

void ReportKept(const PolicyRecord* policy, int64_t kept, bool dry_run) {
  if (kept == 0) return;
  ereport(NOTICE,
          (dry_run ? errmsg_plural(INT64_FORMAT " archived row of retention policy \"%s\" would "
                                   "stay in the archive",
                                   INT64_FORMAT " archived rows of retention policy \"%s\" would "
                                   "stay in the archive",
                                   static_cast<unsigned long>(kept), kept, policy->name)
                   : errmsg_plural(INT64_FORMAT " archived row of retention policy \"%s\" stays "
                                   "in the archive",
                                   INT64_FORMAT " archived rows of retention policy \"%s\" stay "
                                   "in the archive",
                                   static_cast<unsigned long>(kept), kept, policy->name),
           errdetail("Their key is in table \"%s\" already, or a later version of it is "
                     "restored instead.",
                     get_rel_name(policy->relid))));
}

}  // namespace

RestoreTotals RestorePolicy(const char* name, const char* filter, int64_t max_rows,
                            bool dry_run) {
  pushed_snapshot = false;
  EnsureSnapshot();
  RequireMatchingExtensionVersion();
  PolicyRecord* policy = LoadPolicy(name, false);
  if (!CurrentUserManages(policy->owner, policy->relid))
    ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                    errmsg("must be owner of retention policy \"%s\"", policy->name)));
  if (dry_run) {
    // The count runs the table owner's code too: advisory locks it takes at
    // session level must not stay in the caller's session.
    AdvisoryLockSnapshot* dry_locks = SnapshotAdvisoryLocks();
    RestoreTotals totals = {0, 0, 0, "dry run"};
    PG_TRY();
    {
      RestorePlan* plan = BuildRestorePlan(policy, filter);
      CountRestore(plan, &totals.rows_restored, &totals.rows_kept);
    }
    PG_CATCH();
    {
      MemoryContextSwitchTo(ErrorContext);
      (void) ReleaseAdvisoryLocksTakenSince(dry_locks);
      PG_RE_THROW();
    }
    PG_END_TRY();
    (void) ReleaseAdvisoryLocksTakenSince(dry_locks);
    if (max_rows > 0 && totals.rows_restored > max_rows) totals.rows_restored = max_rows;
    ReportKept(policy, totals.rows_kept, true);
    return totals;
  }
  if (!TryLockPolicy(policy->id))
    ereport(ERROR,
            (errcode(ERRCODE_OBJECT_IN_USE),
             errmsg("retention policy \"%s\" is running", policy->name),
             errdetail("A restore holds the policy's lock, like a run: they never overlap."),
             errhint("Try again when the run has ended; pause the policy first with "
                     "retention.pause() so that the scheduler does not archive the rows again.")));
  int32_t policy_id = policy->id;
  AdvisoryLockSnapshot* caller_locks = SnapshotAdvisoryLocks();
  RestoreTotals totals;
  PG_TRY();
  {
    // Checked under the lock, so that a busy policy is refused at once,
    // before anything waits for its tables.
    totals = RestoreLocked(BuildRestorePlan(policy, filter), max_rows);
  }
  PG_CATCH();
  {
    pushed_snapshot = false;  // the abort releases it
    UnlockPolicy(policy_id);
    MemoryContextSwitchTo(ErrorContext);
    (void) ReleaseAdvisoryLocksTakenSince(caller_locks);
    PG_RE_THROW();
  }
  PG_END_TRY();
  UnlockPolicy(policy_id);
  (void) ReleaseAdvisoryLocksTakenSince(caller_locks);
  ReportKept(policy, totals.rows_kept, false);
  return totals;
}

}  // namespace pg_retention::pg


// CALL retention.restore(policy, filter, max_rows, dry_run, ...): every batch
// commits, so only the dry run works inside a transaction block.
Datum retention_restore(PG_FUNCTION_ARGS) {
  using namespace pg_retention;
  using namespace pg_retention::pg;
  if (PG_ARGISNULL(0))
    ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                    errmsg("retention.restore() needs a policy name")));
  bool dry_run = !PG_ARGISNULL(3) && PG_GETARG_BOOL(3);
  bool nonatomic = fcinfo->context != nullptr && IsA(fcinfo->context, CallContext) &&
                   !reinterpret_cast<CallContext*>(fcinfo->context)->atomic;
  if (!dry_run && !nonatomic)
    ereport(ERROR,
            (errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
             errmsg("retention.restore() must be called with a top-level CALL"),
             errdetail("Every batch commits on its own."),
             errhint("Run CALL retention.restore(...) outside BEGIN ... COMMIT, or pass "
                     "dry_run => true to only count.")));
  if (!dry_run && RecoveryInProgress())
    ereport(ERROR, (errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
                    errmsg("cannot restore archived rows during recovery")));
  char* name = text_to_cstring(PG_GETARG_TEXT_PP(0));
  char* filter = PG_ARGISNULL(1) ? nullptr : text_to_cstring(PG_GETARG_TEXT_PP(1));
  int64_t max_rows = PG_ARGISNULL(2) ? 0 : PG_GETARG_INT64(2);
  if (!PG_ARGISNULL(2)) {
    CoreError err;
    if (!CallCore(&err, core::ValidateMaxRows, max_rows)) RaiseCoreError(&err);
  }

  MemoryContext call_context = CurrentMemoryContext;
  SPI_connect_ext(nonatomic ? SPI_OPT_NONATOMIC : 0);
  RestoreTotals totals = RestorePolicy(name, filter, max_rows, dry_run);
  SPI_finish();

  MemoryContextSwitchTo(call_context);
  TupleDesc desc = CreateTemplateTupleDesc(4);
  TupleDescInitEntry(desc, 1, "rows_restored", INT8OID, -1, 0);
  TupleDescInitEntry(desc, 2, "rows_kept", INT8OID, -1, 0);
  TupleDescInitEntry(desc, 3, "batches", INT4OID, -1, 0);
  TupleDescInitEntry(desc, 4, "status", TEXTOID, -1, 0);
  desc = BlessTupleDesc(desc);
  Datum values[4] = {Int64GetDatum(totals.rows_restored), Int64GetDatum(totals.rows_kept),
                     Int32GetDatum(totals.batches), CStringGetTextDatum(totals.status)};
  bool nulls[4] = {false, false, false, false};
  PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
