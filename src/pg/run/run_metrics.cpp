// run_metrics.cpp: see run_metrics.hpp. Nothing here reads the table's rows:
// the backlog is the planner's estimate (EXPLAIN, as the table's owner in the
// sandbox, under the batch timeouts), the free space pgstattuple_approx (as
// the extension owner, only when the table's lock is free at once) or the
// statistics' dead rows' share of the table.
#include "pg/run/run_metrics.hpp"

#include "core/monitoring.hpp"
#include "pg/module/guard.hpp"
#include "pg/module/session.hpp"
#include "pg/policy/catalog.hpp"

#include <cstdlib>
#include <cstring>

extern "C" {
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
}

namespace pg_retention::pg {

namespace {

// Runs f in a subtransaction that stays interruptible although the run's
// bookkeeping holds interrupts: what f runs can take long (the table owner's
// functions while planning, pgstattuple's scan), and must still yield to a
// timeout, a cancel or pg_terminate_backend(). An error is logged at DEBUG1
// and discarded (false). A cancel that was not the batch timeout (with_timeout:
// f armed it) is left pending, to be processed once the run is recorded, as
// the engine does with every cancel that arrives during its bookkeeping.
template <typename Fn>
bool TrySubtransaction(const BatchTimeout* with_timeout, Fn&& f) {
  MemoryContext oldcontext = CurrentMemoryContext;
  ResourceOwner oldowner = CurrentResourceOwner;
  const uint32 holdoff = InterruptHoldoffCount;
  volatile bool ok = true;
  BeginInternalSubTransaction(NULL);
  MemoryContextSwitchTo(oldcontext);
  PG_TRY();
  {
    InterruptHoldoffCount = 0;
    f();
    InterruptHoldoffCount = holdoff;
    ReleaseCurrentSubTransaction();
  }
  PG_CATCH();
  {
    InterruptHoldoffCount = holdoff;
    MemoryContextSwitchTo(oldcontext);
    ErrorData* error = CopyErrorData();
    FlushErrorState();
    // Only a real cancel of this session (raised by ProcessInterrupts, and
    // not our own batch timeout) goes on to the caller; query_canceled that
    // the table owner's code raises itself only leaves the figure unknown.
    bool callers_cancel = error->sqlerrcode == ERRCODE_QUERY_CANCELED &&
                          !(with_timeout != nullptr && OurStatementTimeoutExpired(with_timeout)) &&
                          error->funcname != nullptr &&
                          strcmp(error->funcname, "ProcessInterrupts") == 0;
    RollbackAndReleaseCurrentSubTransaction();
    ereport(DEBUG1, (errmsg("pg_retention: monitoring figure left unknown: %s", error->message)));
    FreeErrorData(error);
    if (callers_cancel) {
      QueryCancelPending = true;
      InterruptPending = true;
    }
    ok = false;
  }
  PG_END_TRY();
  MemoryContextSwitchTo(oldcontext);
  CurrentResourceOwner = oldowner;
  return ok;
}

// The planner's row estimate of the scan under the preview's aggregate: the
// second "Plan Rows" of EXPLAIN (FORMAT JSON), with parallel plans off.
bool PlannerBacklog(RunPlan* plan, double* estimate) {
  char* text = nullptr;
  BatchTimeout timeout{};
  bool ok = TrySubtransaction(&timeout, [&]() {
    Oid types[1] = {TIMESTAMPTZOID};
    Datum values[1] = {TimestampTzGetDatum(plan->policy->cutoff)};
    Sandbox sandbox;
    BeginSandbox(RelationOwner(plan->policy->relid), plan->policy->timezone, &sandbox);
    SetLocalSetting("max_parallel_workers_per_gather", "0");
    ArmBatchTimeout(&timeout);
    int rc = SPI_execute_with_args(psprintf("EXPLAIN (FORMAT JSON) %s", plan->sql_preview), 1,
                                   types, values, NULL, false, 0);
    DisarmBatchTimeout(&timeout);
    EndSandbox(&sandbox);
    if (rc < 0 || SPI_processed < 1) elog(ERROR, "EXPLAIN failed");
    text = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
  });
  if (!ok) DisarmBatchTimeout(&timeout);
  if (!ok || text == nullptr) return false;
  const char* key = "\"Plan Rows\": ";
  const char* first = strstr(text, key);
  const char* second = first ? strstr(first + strlen(key), key) : nullptr;
  if (second == nullptr) return false;
  *estimate = strtod(second + strlen(key), nullptr);
  return true;
}

// The schema of extension pgstattuple, or nullptr.
char* PgstattupleSchema() {
  ExecCatalog(
      "SELECT n.nspname::text FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
      " WHERE e.extname = 'pgstattuple'",
      0, NULL, NULL, NULL, 1);
  if (SPI_processed < 1) return nullptr;
  return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

// Free space plus dead rows' bytes by pgstattuple_approx; false when not
// installed, not allowed or the table is locked.
bool MeasuredFreeBytes(unsigned int relid, int64_t* bytes) {
  char* schema = PgstattupleSchema();
  if (schema == nullptr || !ConditionalLockRelationOid(relid, AccessShareLock)) return false;
  int64_t result = 0;
  bool ok = TrySubtransaction(nullptr, [&]() {
    Oid types[1] = {REGCLASSOID};
    Datum values[1] = {ObjectIdGetDatum(relid)};
    ExecCatalog(psprintf("SELECT (s.approx_free_space + s.dead_tuple_len)::bigint"
                         " FROM %s.pgstattuple_approx($1) s",
                         quote_identifier(schema)),
                1, types, values, NULL, 0);
    bool isnull = true;
    Datum d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
    if (isnull) elog(ERROR, "pgstattuple_approx returned NULL");
    result = DatumGetInt64(d);
  });
  UnlockRelationOid(relid, AccessShareLock);
  *bytes = result;
  return ok;
}

// The dead rows' share of table_bytes_after (core::EstimateFreeBytes).
int64_t EstimatedFreeBytes(int64_t run_id, unsigned int relid) {
  Oid types[2] = {INT8OID, OIDOID};
  Datum values[2] = {Int64GetDatum(run_id), ObjectIdGetDatum(relid)};
  ExecCatalog(
      "SELECT coalesce(r.table_bytes_after, -1), coalesce(s.n_live_tup, -1)::float8,"
      "       coalesce(s.n_dead_tup, -1)::float8, coalesce(c.reltuples, -1)::float8,"
      "       r.rows_deleted::float8"
      "  FROM retention.run_history r"
      "  LEFT JOIN pg_stat_all_tables s ON s.relid = $2"
      "  LEFT JOIN pg_class c ON c.oid = $2"
      " WHERE r.id = $1",
      2, types, values, NULL, 0);
  if (SPI_processed < 1) return core::kUnknown;
  bool isnull;
  HeapTuple tup = SPI_tuptable->vals[0];
  TupleDesc desc = SPI_tuptable->tupdesc;
  core::FreeSpaceInput in{DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull)),
                          DatumGetFloat8(SPI_getbinval(tup, desc, 2, &isnull)),
                          DatumGetFloat8(SPI_getbinval(tup, desc, 3, &isnull)),
                          DatumGetFloat8(SPI_getbinval(tup, desc, 4, &isnull)),
                          DatumGetFloat8(SPI_getbinval(tup, desc, 5, &isnull))};
  int64_t bytes = core::kUnknown;
  CoreError err;
  if (!CallCore(
          &err,
          [](const core::FreeSpaceInput& input, int64_t* result) {
            *result = core::EstimateFreeBytes(input);
            return core::Status::Ok();
          },
          in, &bytes))
    RaiseCoreError(&err);
  return bytes;
}

void WriteFigures(const PolicyRecord* policy, int64_t run_id, bool complete_pass, bool failed,
                  int64_t started_at, int64_t backlog, int64_t free_bytes, const char* source) {
  Oid types[8] = {INT8OID, INT8OID, INT8OID, TEXTOID, INT4OID, BOOLOID, BOOLOID, TIMESTAMPTZOID};
  Datum values[8] = {Int64GetDatum(run_id),          Int64GetDatum(backlog),
                     Int64GetDatum(free_bytes),      CStringGetTextDatum(source),
                     Int32GetDatum(policy->id),      BoolGetDatum(complete_pass),
                     BoolGetDatum(failed),           TimestampTzGetDatum(started_at)};
  char nulls[9] = "        ";
  if (backlog < 0) nulls[1] = 'n';
  if (free_bytes < 0) nulls[2] = nulls[3] = 'n';
  ExecCatalog(
      "UPDATE retention.run_history SET backlog_rows = $2, free_bytes_after = $3,"
      " free_bytes_source = $4 WHERE id = $1",
      8, types, values, nulls, 0);
  ExecCatalog(
      "UPDATE retention.policy_state SET runs_total = runs_total + 1,"
      " failed_runs_total = failed_runs_total + CASE WHEN $7 THEN 1 ELSE 0 END,"
      " last_success_at = CASE WHEN $6 THEN clock_timestamp() ELSE last_success_at END,"
      " caught_up_at = CASE WHEN $6 THEN $8 ELSE caught_up_at END,"
      " backlog_rows = $2, free_bytes = coalesce($3, free_bytes)"
      " WHERE policy_id = $5",
      8, types, values, nulls, 0);
}

}  // namespace

void RecordRunMetrics(RunPlan* plan, const PolicyRecord* policy, int64_t run_id,
                      bool complete_pass, bool failed, int64_t started_at) {
  double estimate = 0;
  // After an error the plan may be what failed: no estimate then.
  bool have_estimate =
      !complete_pass && !failed && plan != nullptr && PlannerBacklog(plan, &estimate);
  int64_t backlog = core::kUnknown;
  CoreError err;
  if (!CallCore(
          &err,
          [](bool complete, bool have, double planner_rows, int64_t* result) {
            *result = core::BacklogAfterRun(complete, have, planner_rows);
            return core::Status::Ok();
          },
          complete_pass, have_estimate, estimate, &backlog))
    RaiseCoreError(&err);

  int64_t free_bytes = core::kUnknown;
  const char* source = "pgstattuple_approx";
  if (!MeasuredFreeBytes(policy->relid, &free_bytes)) {
    free_bytes = EstimatedFreeBytes(run_id, policy->relid);
    source = "estimate";
  }
  WriteFigures(policy, run_id, complete_pass, failed, started_at, backlog, free_bytes, source);
}

}  // namespace pg_retention::pg
