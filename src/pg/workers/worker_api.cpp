// worker_api.cpp: SQL functions that talk to the background workers:
// retention.wakeup() (a test and operator hook: check for due policies now),
// retention_internal.notify_launcher() (called by CREATE EXTENSION) and
// retention_internal.running_progress() (the live progress behind retention.status).
#include "pg/policy/catalog.hpp"
#include "pg/workers/shared_state.hpp"

extern "C" {
#include "postgres.h"

#include "executor/spi.h"

#include "access/xact.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "miscadmin.h"
#include "utils/tuplestore.h"

PGDLLEXPORT Datum retention_wakeup(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum retention_notify_launcher(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum retention_running_progress(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(retention_wakeup);
PG_FUNCTION_INFO_V1(retention_notify_launcher);
PG_FUNCTION_INFO_V1(retention_running_progress);
}

Datum retention_wakeup(PG_FUNCTION_ARGS) {
  using namespace pg_retention::pg;  // block scope only (scripts/lint.py)
  if (!superuser())
    ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                    errmsg("must be superuser to wake the retention scheduler")));
  WakeSchedulers(MyDatabaseId);
  WakeLauncher();
  PG_RETURN_BOOL(SharedStateAvailable());
}

namespace {

bool notify_pending = false;
bool callback_registered = false;

// The launcher may act only once CREATE EXTENSION has committed: a scheduler
// started earlier would not see the extension and would leave for good.
void NotifyAtCommit(XactEvent event, void* arg) {
  using namespace pg_retention::pg;  // block scope only (scripts/lint.py)
  if (!notify_pending) return;
  if (event == XACT_EVENT_COMMIT) {
    SetDatabaseState(MyDatabaseId, DatabaseState::kHasExtension);
    WakeLauncher();
  }
  if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT) notify_pending = false;
}

}  // namespace

Datum retention_notify_launcher(PG_FUNCTION_ARGS) {
  using namespace pg_retention::pg;  // block scope only (scripts/lint.py)
  if (!SharedStateAvailable()) PG_RETURN_VOID();
  if (!callback_registered) {
    RegisterXactCallback(NotifyAtCommit, NULL);
    callback_registered = true;
  }
  notify_pending = true;
  PG_RETURN_VOID();
}

Datum retention_running_progress(PG_FUNCTION_ARGS) {
  using namespace pg_retention::pg;  // block scope only (scripts/lint.py)
  InitMaterializedSRF(fcinfo, 0);
  ReturnSetInfo* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
  constexpr int kMax = 256;
  ProgressRow* rows = static_cast<ProgressRow*>(palloc(sizeof(ProgressRow) * kMax));
  int n = ProgressSnapshot(MyDatabaseId, rows, kMax);
  // Only the runs of policies the caller may see, as in the views: a throttle
  // reason or horizon warning is no business of other tenants.
  SPI_connect();
  for (int i = 0; i < n; ++i) {
    if (!CurrentUserSeesPolicy(rows[i].policy_id)) continue;
    bool throttled = rows[i].throttle_reason[0] != '\0';
    bool horizon = rows[i].horizon_warning[0] != '\0';
    Datum values[7] = {Int32GetDatum(rows[i].policy_id),
                       Int32GetDatum(rows[i].pid),
                       Int64GetDatum(rows[i].rows_deleted),
                       Int64GetDatum(rows[i].rows_archived),
                       Int32GetDatum(rows[i].batches),
                       throttled ? CStringGetTextDatum(rows[i].throttle_reason) : (Datum) 0,
                       horizon ? CStringGetTextDatum(rows[i].horizon_warning) : (Datum) 0};
    bool nulls[7] = {false, false, false, false, false, !throttled, !horizon};
    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
  }
  SPI_finish();
  return (Datum) 0;
}
