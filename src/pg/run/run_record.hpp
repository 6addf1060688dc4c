// run_record.hpp: a run's bookkeeping in retention.run_history and
// retention.policy_state, written at three moments only: when the run starts
// (stale runs closed, the "running" row, the table before), after each
// committed batch (its rows, in the batch's transaction), and when it ends
// (table after, ANALYZE, warning, status, schedule, saved cursor).
#pragma once

#include <cstdint>

#include "pg/policy/catalog.hpp"

namespace pg_retention::pg {

struct RunRecord {
  int64_t run_id;
  int64_t started_at;       // TimestampTz
  double reltuples_before;  // pg_class.reltuples when the run started
};

// The run's outcome as it is written at its end.
struct RunEnding {
  const char* status;           // ok, partial, error, interrupted
  int64_t rows_deleted;
  int64_t rows_archived;
  int32_t batches;
  int32_t retries;
  const char* sqlstate;         // nullptr when none
  const char* message;
  const char* horizon_warning;  // the run's first, nullptr when none
  bool analyzed;
  bool failed;                  // counts as a failure for the schedule
  bool due_again;               // partial with work left: due at once
  const char* cursor_kind;      // saved walk position; nullptr: leave it
  char** cursor_values;
  int ncursor;                  // -1: clear it (a complete pass)
};

RunRecord RecordRunStart(const PolicyRecord* policy, const char* trigger);
void RecordRunBatch(const RunRecord* record, int64_t rows_deleted, int64_t rows_archived);
void RecordRunEnd(const PolicyRecord* policy, const RunRecord* record, const RunEnding* ending);

}  // namespace pg_retention::pg
