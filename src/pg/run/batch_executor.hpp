// batch_executor.hpp: turns a stored policy into a run plan (statements,
// access path, cursor) and executes one batch of it. Policy SQL always runs
// as the policy owner, in a security-restricted operation, with search_path
// pinned and the batch's lock_timeout and statement_timeout in force.
// Transactions are the caller's business (run_engine.cpp).
#pragma once

#include <cstdint>

#include "core/statement_builder.hpp"
#include "pg/policy/catalog.hpp"

// PostgreSQL's own typedefs (postgres.h, postgres_ext.h), repeated so that
// this header needs no server header; a repeated identical typedef is legal.
typedef uintptr_t Datum;
typedef unsigned int Oid;

namespace pg_retention::pg {

constexpr int kMaxCursorColumns = 32;  // INDEX_MAX_KEYS

// The per-batch statement timeout, armed on top of any the caller has (the
// earlier deadline wins) and put back afterwards. The run owns one and
// passes it to every step that arms it; times are TimestampTz.
struct BatchTimeout {
  bool outer_active;
  int64_t outer_at;
  int64_t batch_at;  // 0: not armed by this run since the last Arm
  bool armed;
};

// Arms the batch statement timeout (retention.statement_timeout); Disarm puts
// the caller's back (also after an error, once the failed work is rolled
// back; it does nothing when already disarmed). OurStatementTimeoutExpired
// tells a batch timeout apart from the caller's.
void ArmBatchTimeout(BatchTimeout* timeout);
void DisarmBatchTimeout(BatchTimeout* timeout);
bool OurStatementTimeoutExpired(const BatchTimeout* timeout);

struct RunPlan {
  PolicyRecord* policy;
  core::AccessPath path;
  char* access_path;        // as preview reports it
  char* archive_name;       // quoted, archive mode only
  char* sql_first;          // index walk: batch without a cursor
  char* sql_next;           // index walk: from the cursor; block walk: the batch
  char* sql_range[2];       // key walk: the batch [has lower bound]
  bool range_row_count_is_deleted;  // sql_range is a plain DELETE (delete mode)
  char* sql_copy_first[2];  // key walk, archive mode: copy-first form (copy_first.hpp)
  int copy_first_xid_param[2];  // its last parameter, the batch's transaction id
  bool expressions_builtin;  // the policy's expressions call built-in functions only
  char* source_name;         // quoted, as the statements name the source
  char* sql_bound[2];       // key walk: end of the next range [has lower bound]
  char* sql_last_key[2];    // key walk: end of the last range [has lower bound]
  char* sql_preview;
  int32_t batch_size;       // the first batch's size (fixed, or the sizer's start)
  // The source columns the statements were built for; a batch refuses to run
  // if the table no longer has exactly these (a column added mid-run would
  // otherwise be deleted without being archived).
  int ncolumns;
  char** column_names;
  Oid* column_types;
  int* column_typmods;
  // Cursor: the upper key of the last range (key walk) or the lowest expiry
  // left (index walk).
  int ncursor;
  Oid cursor_types[kMaxCursorColumns];
  bool cursor_byval[kMaxCursorColumns];
  int16_t cursor_len[kMaxCursorColumns];
  Datum cursor[kMaxCursorColumns];
  bool have_cursor;
  // Block range walk: the range of each batch follows its limit (the one
  // batch size), from the table's density when the plan was made.
  int64_t next_block;
  int64_t end_block;
  double reltuples;
  int64_t relpages;
};

struct BatchResult {
  int64_t deleted;
  int64_t archived;
  int64_t visited;     // rows the batch looked at: candidates, or keys in its range
  bool walk_finished;  // nothing left to visit after this batch
  bool ran_twice;      // copy-first, rolled back, then DELETE ... RETURNING
};

// Checks the policy still matches its table (renamed or dropped columns, a
// missing or incompatible archive) and builds the statements. Runs as owner,
// under the same lock and statement timeouts as a batch (timeout), or for
// preview (timeout nullptr) under none.
RunPlan* BuildRunPlan(PolicyRecord* policy, BatchTimeout* timeout);
// preview (for_run false): BuildRunPlan(policy, nullptr).
RunPlan* BuildRunPlan(PolicyRecord* policy, bool for_run);

// The walk position as text, to resume a later run there: *kind names the
// access path and key types; returns the number of values, or -1 when the
// walk has not moved yet. RestoreCursor applies a saved one of the same kind.
int CursorAsText(const RunPlan* plan, const char** kind, char*** values);
void RestoreCursor(RunPlan* plan);

// One batch of at most limit rows. Raises on any failure, including an
// archive that stored fewer rows than were deleted.
void ExecuteBatch(RunPlan* plan, int64_t limit, BatchTimeout* timeout, BatchResult* result);

// The preview query: exact purgeable count and oldest expiry. Runs as owner.
void ExecutePreview(RunPlan* plan, int64_t* purgeable, bool* oldest_null, int64_t* oldest);

}  // namespace pg_retention::pg
