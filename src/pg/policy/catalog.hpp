// catalog.hpp: reading and writing retention.policy and retention.run_history.
// Callers are connected to SPI. Writes run as the extension owner with a
// pinned search_path (users have no privileges on these tables).
#pragma once

#include <cstdint>

#include "core/policy_model.hpp"
#include "pg/module/pg_fwd.hpp"

namespace pg_retention::pg {

constexpr int kNameBytes = core::kMaxPolicyNameBytes + 1;

// One policy as stored. Strings and arrays are palloc'd in the current
// memory context.
struct PolicyRecord {
  int32_t id;
  char name[kNameBytes];
  Oid relid;         // the source table
  char* expires_at;  // deparsed expression
  char* filter;      // deparsed expression, nullptr when none
  IntervalDatum retain;
  IntervalDatum schedule;
  core::Mode mode;
  Oid archive_relid;   // InvalidOid when none
  int32_t batch_size;  // 0: the engine chooses
  bool enabled;
  bool paused;
  Oid owner;                        // the owning role
  char* timezone;                   // TimeZone the policy is evaluated in
  IntervalDatum max_runtime;        // 0 when there is no limit
  int32_t max_rows_per_second;      // 0: no limit
  IntervalDatum target_batch_time;  // 0: retention.target_batch_time
  bool replicate_deletes;           // false: batches carry the "pg_retention" origin
  int ncursor;                      // saved walk position (policy_state), 0 if none
  char** cursor;                    // its values, as text
  char* cursor_kind;                // access path and key types it belongs to
  int64_t cutoff;                   // TimestampTz: now() - retain, when loaded
  int ncolumns;                     // columns the expressions read
  char** column_names;
  int16_t* column_attnums;
};

// A policy's mode as stored ("delete", "archive"): the core's ModeName and
// ParseMode, through the guard; an unknown text raises 22023.
const char* ModeText(core::Mode mode);
core::Mode ModeFromText(const char* text);

// An Interval datum of a policy (schedule, max_runtime) in microseconds, with
// PostgreSQL's 30-day months.
int64_t IntervalMicroseconds(IntervalDatum interval);

// Returns nullptr when missing_ok and the policy does not exist; otherwise
// raises 42704.
PolicyRecord* LoadPolicy(const char* name, bool missing_ok);

// Names of the enabled, unpaused policies, in id order; *count receives the
// number. palloc'd.
char** ListRunnablePolicies(int* count);

// Inserts a new policy row (rec->id is ignored) / rewrites every setting of
// an existing one / deletes it / sets its paused flag.
void InsertPolicy(const PolicyRecord* rec);
void UpdatePolicy(const PolicyRecord* rec);
void DeletePolicy(int32_t id);
void SetPolicyPaused(int32_t id, bool paused);
// replicate_deletes of the named policy (archive lifecycle, issue #11).
void SetPolicyReplicateDeletes(const char* name, bool replicate_deletes);

// True when a policy with this name / id exists.
bool PolicyNameExists(const char* name);
bool PolicyExists(int32_t id);

// Runs one statement on the extension's catalog (see BeginCatalogWork):
// SPI_execute_with_args' arguments; raises an error when it fails.
int ExecCatalog(const char* sql, int nargs, Oid* types, Datum* values, const char* nulls,
                long limit);

// Whether the current user may see the policy (as the views decide):
// members of pg_monitor and superusers see all, others the policies of roles
// whose privileges they have. False for a policy that no longer exists.
bool CurrentUserSeesPolicy(int32_t policy_id);

// Run history. Statuses: running, ok, error, skipped, partial.
// started_at (TimestampTz) is the run's start, as the schedule counts it.
int64_t InsertRun(const PolicyRecord* rec, const char* trigger, const char* status,
                  int64_t started_at);
// A committed batch's rows, added to its run in the batch's transaction, so
// that the history counts exactly what committed whatever happens next.
void RecordBatch(int64_t run_id, int64_t rows_deleted, int64_t rows_archived);

// Before a new run of the policy (its lock held, so no other run of it is
// alive): closes runs of it still marked "running" as interrupted, which a
// cancelled or killed run can leave behind.
void CloseStaleRuns(int32_t policy_id);

// Marks a run that is still "running" as interrupted (a cancel or a
// termination noticed between batches); its counts stay as recorded.
void MarkRunInterrupted(int64_t run_id, const char* sqlstate, const char* message);

void FinishRun(int64_t run_id, const char* status, int64_t rows_deleted, int64_t rows_archived,
               int32_t batches, int32_t retries, const char* sqlstate, const char* error);

// Records the table's size and dead rows (as the statistics know them) in the
// run's history row; after = false for the "before" columns.
void RecordTableState(int64_t run_id, Oid relid, bool after);

// Marks the run as having analyzed its table.
void RecordAnalyzed(int64_t run_id);
// The first xmin horizon warning of the run.
void RecordHorizonWarning(int64_t run_id, const char* warning);

// Scheduling state (retention.policy_state), written when a run ends:
// consecutive failures, when the policy is due next (core/schedule), totals.
// A run that stopped early with work left (partial) is due again at once.
void RecordRunOutcome(const PolicyRecord* rec, int64_t run_id, bool failed, bool partial,
                      int64_t started_at, int64_t finished_at, int64_t rows_deleted,
                      int64_t rows_archived);

// After a worker found the policy already running elsewhere: look again at
// next_run_at (the other executor's run will set it when it ends).
void PostponeAfterSkip(int32_t policy_id, int64_t next_run_at);

// Saves where the walk stopped (kind + values as text), or clears it
// (ncursor < 0) after a complete pass.
void SaveRunCursor(int32_t policy_id, const char* kind, char** values, int ncursor);

// After alter_policy(schedule => ...): the next regular run comes one new
// interval after the last start (a policy in backoff keeps its retry time).
void RescheduleAfterAlter(int32_t policy_id);

// Enabled, unpaused policies whose next run is due, most overdue first.
char** ListDuePolicies(int* count);

// Whether the named policy is due now (the same test as ListDuePolicies):
// run_due() asks again just before each run, since another executor may have
// run it since the list was made.
bool PolicyIsDue(const char* name);

// Marks runs still "running" whose process no longer holds the policy lock
// as "interrupted"; returns how many.
int CloseInterruptedRuns();

}  // namespace pg_retention::pg
