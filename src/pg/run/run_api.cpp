// run_api.cpp: CALL retention.run(), CALL retention.run_due() and
// retention.preview(). run() and run_due() need a non-atomic context (a
// top-level CALL) because every batch commits; preview() only reads and also
// works on a hot standby.
//
// run_due() runs what the background scheduler would run now (the same due
// list, the same kill switch), for installations that use pg_cron or cron +
// psql as the clock. It runs every due policy the caller manages, then raises
// an ERROR naming those that ended in error, so that the job is marked failed;
// every run's history has committed by then. run(raise_on_error => true) does
// the same for the policies it runs.
#include "core/policy_model.hpp"
#include "core/run_status.hpp"
#include "core/run_trigger.hpp"
#include "pg/run/batch_executor.hpp"
#include "pg/policy/catalog.hpp"
#include "pg/module/guard.hpp"
#include "pg/run/run_engine.hpp"
#include "pg/run/schedule_gate.hpp"
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
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "postmaster/bgworker.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

PGDLLEXPORT Datum retention_run(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum retention_run_due(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum retention_preview(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(retention_run);
PG_FUNCTION_INFO_V1(retention_run_due);
PG_FUNCTION_INFO_V1(retention_preview);
}

namespace pg_retention::pg {
namespace {

// what: "retention.run()"; call: how the hint writes the CALL.
void RequireNonAtomicCall(FunctionCallInfo fcinfo, const char* what, const char* call) {
  if (fcinfo->context == nullptr || !IsA(fcinfo->context, CallContext))
    ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                    errmsg("%s must be invoked with CALL", what)));
  if (reinterpret_cast<CallContext*>(fcinfo->context)->atomic) {
    if (IsTransactionBlock())
      ereport(ERROR,
              (errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
               errmsg("%s cannot run inside a transaction block", what),
               errdetail("Every batch commits on its own."),
               errhint("Run CALL %s outside BEGIN ... COMMIT.", call)));
    ereport(ERROR,
            (errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
             errmsg("%s cannot be called from a context that cannot commit", what),
             errdetail("Every batch commits on its own."),
             errhint("Call it with a top-level CALL, or from a procedure called that way.")));
  }
}

void RequirePrimary() {
  if (RecoveryInProgress())
    ereport(ERROR, (errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
                    errmsg("cannot run retention policies during recovery"),
                    errdetail("This server is a hot standby; purging would write."),
                    errhint("Run policies on the primary. retention.preview() works here.")));
}

void CheckMaxRows(int64_t max_rows) {
  CoreError err;
  if (!CallCore(&err, core::ValidateMaxRows, max_rows)) RaiseCoreError(&err);
}

// The trigger value this call's runs record (core/run_trigger).
const char* TriggerFor(core::RunEntry entry) {
  const char* library = MyBgworkerEntry ? MyBgworkerEntry->bgw_library_name : nullptr;
  const char* function = MyBgworkerEntry ? MyBgworkerEntry->bgw_function_name : nullptr;
  const char* trigger = "manual";
  CoreError err;
  const char* app = application_name;
  if (!CallCore(
          &err,
          [](core::RunEntry e, const char* lib, const char* fn, const char* app_name,
             const char** out) {
            *out = core::RunTriggerName(e, core::IsPgCronJob(lib, fn, app_name));
            return core::Status::Ok();
          },
          entry, library, function, app, &trigger))
    RaiseCoreError(&err);
  return trigger;
}

// What the runs of one call add up to. Only trivially destructible values;
// the list of failed policies lives in the call's memory context, which
// outlives the commits of the runs.
struct CallSummary {
  int policies;
  int64_t rows_deleted;
  int64_t rows_archived;
  int32_t batches;
  core::RunTally tally;
  StringInfo failed;  // "a", "b"
  MemoryContext call_context;
};

CallSummary StartSummary() {
  CallSummary s = {0, 0, 0, 0, {0, 0, 0, 0}, nullptr, CurrentMemoryContext};
  s.failed = makeStringInfo();
  return s;
}

core::RunOutcome ToCore(RunStatus status) {
  switch (status) {
    case RunStatus::kOk: return core::RunOutcome::kOk;
    case RunStatus::kPartial: return core::RunOutcome::kPartial;
    case RunStatus::kSkipped: return core::RunOutcome::kSkipped;
    case RunStatus::kError: return core::RunOutcome::kError;
  }
  return core::RunOutcome::kError;
}

void AddOutcome(CallSummary* s, core::RunOutcome outcome) {
  CoreError err;
  if (!CallCore(
          &err,
          [](core::RunTally* tally, core::RunOutcome o) {
            core::AddOutcome(tally, o);
            return core::Status::Ok();
          },
          &s->tally, outcome))
    RaiseCoreError(&err);
}

void Account(CallSummary* s, const char* name, const RunTotals& one) {
  s->policies++;
  s->rows_deleted += one.rows_deleted;
  s->rows_archived += one.rows_archived;
  s->batches += one.batches;
  AddOutcome(s, ToCore(one.status));
  if (one.status != RunStatus::kError) return;
  MemoryContext old = MemoryContextSwitchTo(s->call_context);
  appendStringInfo(s->failed, "%s\"%s\"", s->failed->len > 0 ? ", " : "", name);
  MemoryContextSwitchTo(old);
}

// Whether the caller may run the policy. Policies of others are passed over
// without a word: their names, and whether they exist, are not the caller's
// to see.
bool CallerManages(const char* name) {
  PolicyRecord* rec = LoadPolicy(name, true);
  return rec != nullptr && CurrentUserManages(rec->owner, rec->relid);
}

// After every run has committed: an ERROR that names the policies that
// ended in error, when asked for. Their own errors are in retention.runs.
void RaiseIfFailed(const CallSummary& s, bool raise_on_error) {
  bool raise = false;
  CoreError err;
  if (!CallCoreInto(&err, core::RaisesAfterRuns, &raise, s.tally, raise_on_error))
    RaiseCoreError(&err);
  if (!raise) return;
  ereport(ERROR,
          (errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
           errmsg_plural("%d retention policy ended in error", "%d retention policies ended in error",
                         s.tally.error, s.tally.error),
           errdetail("Policies that ended in error: %s.", s.failed->data),
           errhint("Their errors are in retention.runs. Rows that were purged stay purged; "
                   "failed policies are retried with backoff.")));
}

// The procedures' INOUT result: rows_deleted, rows_archived, batches, status,
// preceded by the number of policies for run_due().
Datum ResultTuple(const CallSummary& s, bool with_policies) {
  MemoryContextSwitchTo(s.call_context);
  core::RunOutcome combined = core::RunOutcome::kOk;
  CoreError err;
  if (!CallCoreInto(&err, core::CombinedOutcome, &combined, s.tally))
    RaiseCoreError(&err);
  RunStatus status = combined == core::RunOutcome::kError     ? RunStatus::kError
                     : combined == core::RunOutcome::kPartial ? RunStatus::kPartial
                     : combined == core::RunOutcome::kSkipped ? RunStatus::kSkipped
                                                              : RunStatus::kOk;
  int n = with_policies ? 5 : 4, a = with_policies ? 1 : 0;
  TupleDesc desc = CreateTemplateTupleDesc(n);
  if (with_policies) TupleDescInitEntry(desc, 1, "policies", INT4OID, -1, 0);
  TupleDescInitEntry(desc, a + 1, "rows_deleted", INT8OID, -1, 0);
  TupleDescInitEntry(desc, a + 2, "rows_archived", INT8OID, -1, 0);
  TupleDescInitEntry(desc, a + 3, "batches", INT4OID, -1, 0);
  TupleDescInitEntry(desc, a + 4, "status", TEXTOID, -1, 0);
  desc = BlessTupleDesc(desc);
  Datum values[5];
  bool nulls[5] = {false, false, false, false, false};
  if (with_policies) values[0] = Int32GetDatum(s.policies);
  values[a] = Int64GetDatum(s.rows_deleted);
  values[a + 1] = Int64GetDatum(s.rows_archived);
  values[a + 2] = Int32GetDatum(s.batches);
  values[a + 3] = CStringGetTextDatum(RunStatusName(status));
  return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
}

// run() without a name: every enabled, unpaused policy the caller manages,
// within max_rows in all.
void RunAllManaged(CallSummary* s, int64_t max_rows, const char* trigger) {
  int count;
  char** names = ListRunnablePolicies(&count);
  for (int i = 0; i < count; ++i) {
    if (!CallerManages(names[i])) continue;
    int64_t left = 0;
    if (max_rows > 0) {
      left = max_rows - s->rows_deleted;
      if (left <= 0) {
        AddOutcome(s, core::RunOutcome::kPartial);
        break;
      }
    }
    Account(s, names[i], RunPolicy(names[i], left, trigger, false));
  }
}

}  // namespace
}  // namespace pg_retention::pg

Datum retention_run(PG_FUNCTION_ARGS) {
  using namespace pg_retention;  // block scope only (scripts/lint.py)
  using namespace pg_retention::pg;
  RequireNonAtomicCall(fcinfo, "retention.run()", "retention.run(...)");
  RequirePrimary();

  char* name = PG_ARGISNULL(0) ? nullptr : text_to_cstring(PG_GETARG_TEXT_PP(0));
  int64_t max_rows = PG_ARGISNULL(1) ? 0 : PG_GETARG_INT64(1);
  if (!PG_ARGISNULL(1)) CheckMaxRows(max_rows);
  // The last argument since 0.2; a 0.1 definition has six.
  bool raise_on_error = PG_NARGS() > 6 && !PG_ARGISNULL(6) && PG_GETARG_BOOL(6);
  const char* trigger = TriggerFor(core::RunEntry::kRun);

  CallSummary summary = StartSummary();
  SPI_connect_ext(SPI_OPT_NONATOMIC);
  if (name != nullptr)
    Account(&summary, name, RunPolicy(name, max_rows, trigger, false));
  else
    RunAllManaged(&summary, max_rows, trigger);
  SPI_finish();

  RaiseIfFailed(summary, raise_on_error);
  PG_RETURN_DATUM(ResultTuple(summary, false));
}

Datum retention_run_due(PG_FUNCTION_ARGS) {
  using namespace pg_retention;  // block scope only (scripts/lint.py)
  using namespace pg_retention::pg;
  RequireNonAtomicCall(fcinfo, "retention.run_due()", "retention.run_due()");
  RequirePrimary();
  const char* trigger = TriggerFor(core::RunEntry::kRunDue);

  CallSummary summary = StartSummary();
  SPI_connect_ext(SPI_OPT_NONATOMIC);
  if (!ScheduledRunsAllowed()) {
    AddOutcome(&summary, core::RunOutcome::kSkipped);
    ereport(NOTICE, (errmsg("retention.enabled is off or a database-wide command waits for this "
                            "database; no policy was run")));
  } else {
    int count;
    char** names = ListDuePolicies(&count);
    for (int i = 0; i < count; ++i) {
      CHECK_FOR_INTERRUPTS();
      if (!ScheduledRunsAllowed()) break;  // the kill switch, between policies
      // Asked again just before the run: another executor may have run it
      // since the list was made.
      if (!CallerManages(names[i]) || !PolicyIsDue(names[i])) continue;
      Account(&summary, names[i], RunPolicy(names[i], 0, trigger, true));
    }
  }
  SPI_finish();

  RaiseIfFailed(summary, true);
  PG_RETURN_DATUM(ResultTuple(summary, true));
}

Datum retention_preview(PG_FUNCTION_ARGS) {
  using namespace pg_retention;  // block scope only (scripts/lint.py)
  using namespace pg_retention::pg;
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
