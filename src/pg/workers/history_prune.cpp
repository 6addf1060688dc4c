// history_prune.cpp: see history_prune.hpp. The decisions (what a batch
// removes, when a pass stops) are core::PlanHistoryPrune/PruneContinues; this
// file runs the DELETE on the catalog, as the extension owner
// (ExecCatalog), and offers retention.prune_history() to whoever the
// extension owner grants it (nobody by default).
#include "pg/workers/history_prune.hpp"

#include "core/monitoring.hpp"
#include "pg/module/gucs.hpp"
#include "pg/module/monitoring_settings.hpp"
#include "pg/module/guard.hpp"
#include "pg/policy/catalog.hpp"

extern "C" {
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

PGDLLEXPORT Datum retention_prune_history(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(retention_prune_history);
}

namespace pg_retention::pg {

namespace {

// The run that happens at each time: a skipped one at its latest attempt.
const char* kPruneBatch =
    "DELETE FROM retention.run_history WHERE id IN ("
    " SELECT x.id FROM ("
    "   SELECT r.id, r.status,"
    "          coalesce(r.last_skipped_at, r.finished_at, r.started_at) AS at,"
    "          row_number() OVER (PARTITION BY r.policy_id ORDER BY r.id DESC) AS n"
    "     FROM retention.run_history r) x"
    "  WHERE x.status <> 'running'"
    "    AND NOT EXISTS (SELECT 1 FROM retention.policy_state s WHERE s.last_run_id = x.id)"
    "    AND (($1 AND x.at < $2) OR ($3 AND x.n > $4))"
    "  ORDER BY x.id LIMIT $5)";

core::HistoryPrune CurrentPlan(int32_t max_batches) {
  core::HistoryPrune plan{};
  CoreError err;
  int64_t now = GetCurrentTimestamp();
  int64_t retention_us = static_cast<int64_t>(guc_history_retention_s) * USECS_PER_SEC;
  int32_t max_rows = guc_history_max_rows;
  if (!CallCore(
          &err,
          [](int64_t now_us, int64_t keep_us, int32_t rows, int32_t batches,
             core::HistoryPrune* out) {
            *out = core::PlanHistoryPrune(now_us, keep_us, rows, batches);
            return core::Status::Ok();
          },
          now, retention_us, max_rows, max_batches, &plan))
    RaiseCoreError(&err);
  return plan;
}

bool Continues(const core::HistoryPrune& plan, int32_t done, int64_t last) {
  bool more = false;
  CoreError err;
  if (!CallCore(
          &err,
          [](const core::HistoryPrune& p, int32_t batches, int64_t rows, bool* out) {
            *out = core::PruneContinues(p, batches, rows);
            return core::Status::Ok();
          },
          plan, done, last, &more))
    RaiseCoreError(&err);
  return more;
}

// One batch in the current transaction (connected to SPI); rows removed.
int64_t PruneBatch(const core::HistoryPrune& plan) {
  if (!plan.by_age && !plan.by_count) return 0;
  Oid types[5] = {BOOLOID, TIMESTAMPTZOID, BOOLOID, INT4OID, INT4OID};
  Datum values[5] = {BoolGetDatum(plan.by_age), TimestampTzGetDatum(plan.older_than_us),
                     BoolGetDatum(plan.by_count), Int32GetDatum(plan.keep_rows),
                     Int32GetDatum(plan.batch_rows)};
  ExecCatalog(kPruneBatch, 5, types, values, NULL, 0);
  return static_cast<int64_t>(SPI_processed);
}

TimestampTz last_prune = 0;

}  // namespace

void PruneHistoryStep() {
  TimestampTz now = GetCurrentTimestamp();
  int64 every_ms = Min(60 * 1000, 10 * static_cast<int64>(guc_naptime_ms));
  if (last_prune != 0 && !TimestampDifferenceExceeds(last_prune, now, static_cast<int>(every_ms)))
    return;
  last_prune = now;
  core::HistoryPrune plan = CurrentPlan(10);
  int32_t done = 0;
  int64_t removed = 0;
  do {
    SetCurrentStatementStartTimestamp();
    StartTransactionCommand();
    PushActiveSnapshot(GetTransactionSnapshot());
    SPI_connect();
    removed = PruneBatch(plan);
    SPI_finish();
    PopActiveSnapshot();
    CommitTransactionCommand();
    ++done;
    CHECK_FOR_INTERRUPTS();
  } while (Continues(plan, done, removed));
}

}  // namespace pg_retention::pg


// retention.prune_history(max_batches): the scheduler's prune, by hand, in
// the caller's transaction. Rows removed.
Datum retention_prune_history(PG_FUNCTION_ARGS) {
  using namespace pg_retention::pg;
  pg_retention::core::HistoryPrune plan = CurrentPlan(PG_GETARG_INT32(0));
  int64_t total = 0;
  int32_t done = 0;
  int64_t removed = 0;
  SPI_connect();
  do {
    removed = PruneBatch(plan);
    total += removed;
    ++done;
    CHECK_FOR_INTERRUPTS();
  } while (Continues(plan, done, removed));
  SPI_finish();
  PG_RETURN_INT64(total);
}
