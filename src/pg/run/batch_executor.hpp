// batch_executor.hpp: turns a stored policy into a run plan (statements,
// access path, cursor) and executes one batch of it. Policy SQL always runs
// as the policy owner, in a security-restricted operation, with search_path
// pinned and the batch's lock_timeout and statement_timeout in force.
// Transactions are the caller's business (run_engine.cpp).
#pragma once

#include <cstdint>

#include "pg/policy/catalog.hpp"

namespace pg_retention::pg {

constexpr int kMaxCursorColumns = 32;  // INDEX_MAX_KEYS

struct RunPlan {
  PolicyRecord* policy;
  int path;                 // core::AccessPath
  char* access_path;        // as preview reports it
  char* archive_name;       // quoted, archive mode only
  char* sql_first;          // index walk: batch without a cursor
  char* sql_next;           // index walk: from the cursor; block walk: the batch
  char* sql_range[2];       // key walk: the batch [has lower bound]
  bool range_row_count_is_deleted;  // sql_range is a plain DELETE (delete mode)
  char* sql_bound[2];       // key walk: end of the next range [has lower bound]
  char* sql_last_key[2];    // key walk: end of the last range [has lower bound]
  char* sql_preview;
  int32_t batch_size;
  // The source columns the statements were built for; a batch refuses to run
  // if the table no longer has exactly these (a column added mid-run would
  // otherwise be deleted without being archived).
  int ncolumns;
  char** column_names;
  unsigned int* column_types;
  int* column_typmods;
  // Cursor: the upper key of the last range (path 0) or the lowest expiry
  // left (path 1).
  int ncursor;
  unsigned int cursor_types[kMaxCursorColumns];
  bool cursor_byval[kMaxCursorColumns];
  int16_t cursor_len[kMaxCursorColumns];
  uintptr_t cursor[kMaxCursorColumns];
  bool have_cursor;
  // Block range walk (path 2).
  int64_t next_block;
  int64_t blocks_per_batch;
  int64_t end_block;
};

struct BatchResult {
  int64_t deleted;
  int64_t archived;
  int64_t scanned;
  bool walk_finished;  // nothing left to visit after this batch
};

// Checks the policy still matches its table (renamed or dropped columns, a
// missing or incompatible archive) and builds the statements. Runs as owner;
// for a run (not for preview) under the same lock and statement timeouts as
// a batch.
RunPlan* BuildRunPlan(PolicyRecord* policy, bool for_run = true);

// The walk position as text, to resume a later run there: *kind names the
// access path and key types; returns the number of values, or -1 when the
// walk has not moved yet. RestoreCursor applies a saved one of the same kind.
int CursorAsText(const RunPlan* plan, const char** kind, char*** values);
void RestoreCursor(RunPlan* plan);

// One batch of at most limit rows. Raises on any failure, including an
// archive that stored fewer rows than were deleted.
void ExecuteBatch(RunPlan* plan, int64_t limit, BatchResult* result);

// The preview query: exact purgeable count and oldest expiry. Runs as owner.
void ExecutePreview(RunPlan* plan, int64_t* purgeable, bool* oldest_null, int64_t* oldest);

// Arms the per-batch statement timeout on top of any the session has, and
// puts the session's back (also after an error: call DisarmBatchTimeout once
// the failed work is rolled back; it does nothing when already disarmed).
// OurStatementTimeoutExpired tells a batch timeout apart from the caller's.
void ArmBatchTimeout();
void DisarmBatchTimeout();
bool OurStatementTimeoutExpired();

}  // namespace pg_retention::pg
