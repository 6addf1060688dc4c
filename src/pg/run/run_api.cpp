// run_api.cpp: CALL retention.run() and retention.preview(). run() needs a
// non-atomic context (a top-level CALL) because every batch commits; preview()
// only reads and also works on a hot standby.
#include "core/policy_model.hpp"
#include "pg/run/batch_executor.hpp"
#include "pg/policy/catalog.hpp"
#include "pg/module/guard.hpp"
#include "pg/run/run_engine.hpp"
#include "pg/module/session.hpp"

extern "C" {
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

PGDLLEXPORT Datum retention_run(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum retention_preview(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(retention_run);
PG_FUNCTION_INFO_V1(retention_preview);
}

using namespace pg_retention;
using namespace pg_retention::pg;

namespace {

void RequireNonAtomicCall(FunctionCallInfo fcinfo) {
  if (fcinfo->context == nullptr || !IsA(fcinfo->context, CallContext))
    ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                    errmsg("retention.run() must be invoked with CALL")));
  if (reinterpret_cast<CallContext*>(fcinfo->context)->atomic) {
    if (IsTransactionBlock())
      ereport(ERROR,
              (errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
               errmsg("retention.run() cannot run inside a transaction block"),
               errdetail("Every batch commits on its own."),
               errhint("Run CALL retention.run(...) outside BEGIN ... COMMIT.")));
    ereport(ERROR,
            (errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
             errmsg("retention.run() cannot be called from a context that cannot commit"),
             errdetail("Every batch commits on its own."),
             errhint("Call it with a top-level CALL, or from a procedure called that way.")));
  }
}

void CheckMaxRows(int64_t max_rows) {
  CoreError err;
  if (!CallCore(&err, core::ValidateMaxRows, max_rows)) RaiseCoreError(&err);
}

// Combines the outcome of several policies: an error wins, then partial,
// then ok; all skipped stays skipped.
RunStatus Combine(RunStatus so_far, RunStatus next, bool first) {
  if (first) return next;
  auto rank = [](RunStatus s) {
    switch (s) {
      case RunStatus::kError: return 3;
      case RunStatus::kPartial: return 2;
      case RunStatus::kOk: return 1;
      case RunStatus::kSkipped: return 0;
    }
    return 3;
  };
  if (so_far == RunStatus::kSkipped && next == RunStatus::kSkipped) return RunStatus::kSkipped;
  RunStatus a = so_far == RunStatus::kSkipped ? RunStatus::kOk : so_far;
  RunStatus b = next == RunStatus::kSkipped ? RunStatus::kOk : next;
  return rank(a) >= rank(b) ? a : b;
}

}  // namespace

Datum retention_run(PG_FUNCTION_ARGS) {
  RequireNonAtomicCall(fcinfo);
  if (RecoveryInProgress())
    ereport(ERROR, (errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
                    errmsg("cannot run retention policies during recovery"),
                    errdetail("This server is a hot standby; purging would write."),
                    errhint("Run policies on the primary. retention.preview() works here.")));

  char* name = PG_ARGISNULL(0) ? nullptr : text_to_cstring(PG_GETARG_TEXT_PP(0));
  int64_t max_rows = PG_ARGISNULL(1) ? 0 : PG_GETARG_INT64(1);
  if (!PG_ARGISNULL(1)) CheckMaxRows(max_rows);

  MemoryContext call_context = CurrentMemoryContext;
  SPI_connect_ext(SPI_OPT_NONATOMIC);

  RunTotals total = {0, 0, 0, RunStatus::kOk};
  if (name != nullptr) {
    total = RunPolicy(name, max_rows, "manual");
  } else {
    int count;
    char** names = ListRunnablePolicies(&count);
    bool first = true;
    for (int i = 0; i < count; ++i) {
      PolicyRecord* rec = LoadPolicy(names[i], true);
      if (rec == nullptr || !CurrentUserManages(rec->owner, rec->relid)) continue;
      int64_t left = 0;
      if (max_rows > 0) {
        left = max_rows - total.rows_deleted;
        if (left <= 0) {
          total.status = Combine(total.status, RunStatus::kPartial, first);
          break;
        }
      }
      RunTotals one = RunPolicy(names[i], left, "manual");
      total.rows_deleted += one.rows_deleted;
      total.rows_archived += one.rows_archived;
      total.batches += one.batches;
      total.status = Combine(total.status, one.status, first);
      first = false;
    }
  }
  SPI_finish();

  MemoryContextSwitchTo(call_context);
  TupleDesc desc = CreateTemplateTupleDesc(4);
  TupleDescInitEntry(desc, 1, "rows_deleted", INT8OID, -1, 0);
  TupleDescInitEntry(desc, 2, "rows_archived", INT8OID, -1, 0);
  TupleDescInitEntry(desc, 3, "batches", INT4OID, -1, 0);
  TupleDescInitEntry(desc, 4, "status", TEXTOID, -1, 0);
  desc = BlessTupleDesc(desc);
  Datum values[4] = {Int64GetDatum(total.rows_deleted), Int64GetDatum(total.rows_archived),
                     Int32GetDatum(total.batches),
                     CStringGetTextDatum(RunStatusName(total.status))};
  bool nulls[4] = {false, false, false, false};
  PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

Datum retention_preview(PG_FUNCTION_ARGS) {
  char* name = text_to_cstring(PG_GETARG_TEXT_PP(0));
  InitMaterializedSRF(fcinfo, 0);
  ReturnSetInfo* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);

  SPI_connect();
  PolicyRecord* policy = LoadPolicy(name, false);
  if (!CurrentUserManages(policy->owner, policy->relid))
    ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                    errmsg("must be owner of retention policy \"%s\"", policy->name)));
  RunPlan* plan = BuildRunPlan(policy, false);
  int64_t purgeable;
  bool oldest_null;
  int64_t oldest;
  ExecutePreview(plan, &purgeable, &oldest_null, &oldest);

  Datum values[6];
  bool nulls[6] = {false, oldest_null, false, false, false, false};
  values[0] = Int64GetDatum(purgeable);
  values[1] = TimestampTzGetDatum(oldest);
  values[2] = CStringGetTextDatum(plan->access_path);
  values[3] = TimestampTzGetDatum(policy->cutoff);
  values[4] = Int32GetDatum(plan->batch_size);
  values[5] = CStringGetTextDatum(ModeText(policy->mode));
  tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
  SPI_finish();
  return (Datum) 0;
}
