// run_record.cpp: see run_record.hpp. The catalog calls of a run, in one place.
#include "pg/run/run_record.hpp"

extern "C" {
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
}

namespace pg_retention::pg {

RunRecord RecordRunStart(const PolicyRecord* policy, const char* trigger) {
  RunRecord record;
  record.started_at = GetCurrentTimestamp();
  CloseStaleRuns(policy->id);
  record.run_id = InsertRun(policy, trigger, "running", record.started_at);
  RecordTableState(record.run_id, policy->relid, false);
  record.reltuples_before = 0;  // from the catalog cache: no lock, no wait
  if (HeapTuple tup = SearchSysCache1(RELOID, ObjectIdGetDatum(policy->relid))) {
    record.reltuples_before = ((Form_pg_class) GETSTRUCT(tup))->reltuples;
    ReleaseSysCache(tup);
  }
  return record;
}

void RecordRunBatch(const RunRecord* record, int64_t rows_deleted, int64_t rows_archived) {
  RecordBatch(record->run_id, rows_deleted, rows_archived);
}

void RecordRunEnd(const PolicyRecord* policy, const RunRecord* record, const RunEnding* ending) {
  RecordTableState(record->run_id, policy->relid, true);
  if (ending->analyzed) RecordAnalyzed(record->run_id);
  if (ending->horizon_warning != nullptr)
    RecordHorizonWarning(record->run_id, ending->horizon_warning);
  FinishRun(record->run_id, ending->status, ending->rows_deleted, ending->rows_archived,
            ending->batches, ending->retries, ending->sqlstate, ending->message);
  RecordRunOutcome(policy, record->run_id, ending->failed, ending->due_again, record->started_at,
                   GetCurrentTimestamp(), ending->rows_deleted, ending->rows_archived);
  if (ending->cursor_kind != nullptr || ending->ncursor < 0)
    SaveRunCursor(policy->id, ending->cursor_kind, ending->cursor_values, ending->ncursor);
}

}  // namespace pg_retention::pg
