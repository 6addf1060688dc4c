// batch_executor.cpp: see batch_executor.hpp.
#include "pg/run/batch_executor.hpp"

#include <string>
#include <vector>

#include "core/block_walk.hpp"
#include "core/statement_builder.hpp"
#include "pg/policy/archive_table.hpp"
#include "pg/policy/expression.hpp"
#include "pg/module/guard.hpp"
#include "pg/module/gucs.hpp"
#include "pg/policy/relation_info.hpp"
#include "pg/module/session.hpp"

extern "C" {
#include "postgres.h"

#include "access/relation.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/itemptr.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/memutils.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"
#include "utils/guc.h"
}

namespace pg_retention::pg {

namespace {

// The plain description of a batch statement that crosses into the core.
struct PlainSpec {
  const char* source;
  const char* expires_at;
  const char* filter;
  core::Mode mode;
  const char* archive;
  int ncolumns;
  char** columns;
  int path;
  int nkeys;
  KeyColumnInfo* keys;
};

struct BuiltSql {
  char* first;
  char* next;
  char* range[2];
  char* bound[2];
  char* last_key[2];
  char* preview;
  bool range_row_count_is_deleted;  // range[]: a plain DELETE, see core
};

// first, next, range[2], bound[2], last_key[2], preview
constexpr int kBuiltStrings = 9;

BuiltSql BuildStatements(const PlainSpec* p) {
  CoreError err;
  // malloc'd by the core side, in the order of BuiltSql.
  char* out[kBuiltStrings] = {nullptr, nullptr, nullptr, nullptr, nullptr,
                              nullptr, nullptr, nullptr, nullptr};
  bool row_count_is_deleted = false;
  bool ok = CallCore(&err, [](const PlainSpec* in, char** strings, bool* deleted_out) {
    core::BatchStatementSpec spec;
    spec.source = in->source;
    spec.expires_at = in->expires_at;
    spec.filter = in->filter ? in->filter : "";
    spec.mode = in->mode;
    spec.archive = in->archive ? in->archive : "";
    for (int i = 0; i < in->ncolumns; ++i) spec.columns.emplace_back(in->columns[i]);
    spec.path = static_cast<core::AccessPath>(in->path);
    for (int i = 0; i < in->nkeys; ++i)
      spec.key.push_back({in->keys[i].name, in->keys[i].op_schema});
    if (spec.path == core::AccessPath::kPrimaryKeyWalk) {
      for (int lower = 0; lower < 2; ++lower) {
        core::BatchStatement st = core::BuildBatchStatement(spec, lower);
        if (!st.status.ok()) return st.status;
        strings[2 + lower] = CoreStrdup(st.sql);
        *deleted_out = st.row_count_is_deleted;
        strings[4 + lower] = CoreStrdup(core::BuildKeyBoundQuery(spec, lower));
        strings[6 + lower] = CoreStrdup(core::BuildLastKeyQuery(spec, lower));
      }
    } else {
      if (spec.path == core::AccessPath::kIndex) {
        core::BatchStatement st = core::BuildBatchStatement(spec, false);
        if (!st.status.ok()) return st.status;
        strings[0] = CoreStrdup(st.sql);
      }
      core::BatchStatement st = core::BuildBatchStatement(spec, true);
      if (!st.status.ok()) return st.status;
      strings[1] = CoreStrdup(st.sql);
    }
    strings[8] = CoreStrdup(core::BuildPreviewStatement(spec));
    return core::Status::Ok();
  }, p, out, &row_count_is_deleted);
  if (!ok) {
    for (char* s : out) free(s);
    RaiseCoreError(&err);
  }
  BuiltSql built;
  built.range_row_count_is_deleted = row_count_is_deleted;
  built.first = out[0] ? TakeCoreString(out[0]) : nullptr;
  built.next = out[1] ? TakeCoreString(out[1]) : nullptr;
  for (int lower = 0; lower < 2; ++lower) {
    built.range[lower] = out[2 + lower] ? TakeCoreString(out[2 + lower]) : nullptr;
    built.bound[lower] = out[4 + lower] ? TakeCoreString(out[4 + lower]) : nullptr;
    built.last_key[lower] = out[6 + lower] ? TakeCoreString(out[6 + lower]) : nullptr;
  }
  built.preview = TakeCoreString(out[8]);
  return built;
}

// The stored expressions must still read the columns they were written
// against: a rename or drop would otherwise change what gets deleted.
void CheckColumnsUnchanged(const PolicyRecord* policy, const AnalyzedExpression* expires,
                           const AnalyzedExpression* filter) {
  int count;
  int16_t* now = MergeAttnums(expires, filter, &count);
  bool same = count == policy->ncolumns;
  for (int i = 0; same && i < count; ++i) same = now[i] == policy->column_attnums[i];
  for (int i = 0; same && i < policy->ncolumns; ++i) {
    char* name = get_attname(policy->relid, policy->column_attnums[i], true);
    same = name != nullptr && strcmp(name, policy->column_names[i]) == 0;
  }
  if (!same)
    ereport(ERROR,
            (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
             errmsg("retention policy \"%s\" no longer matches table \"%s\"", policy->name,
                    get_rel_name(policy->relid)),
             errdetail("A column its expressions read was renamed, dropped or replaced."),
             errhint("Redefine the expressions with retention.alter_policy().")));
}

// Expression errors at run time mean the table changed under the policy.
void ColumnChangedContext(void* arg) {
  errcontext("checking retention policy \"%s\" against its table", static_cast<char*>(arg));
}

// State of the per-batch statement timeout.
bool outer_timeout_active = false;
TimestampTz outer_timeout_at = 0;
TimestampTz batch_timeout_at = 0;
bool armed = false;

}  // namespace

// The bounds of a batch: the batch lock_timeout and the batch statement
// timeout, around the sandbox in which its statements run. Returns the GUC
// nest level for EndBatchBounds. for_run false (preview): none.
static int BeginBatchBounds(bool for_run = true) {
  int nest = NewGUCNestLevel();
  if (for_run) {
    char timeout[32];
    snprintf(timeout, sizeof(timeout), "%d", guc_lock_timeout_ms);
    SetLocalSetting("lock_timeout", timeout);
    ArmBatchTimeout();
  }
  return nest;
}

static void EndBatchBounds(int nest) {
  DisarmBatchTimeout();
  RestoreSettings(nest);
}

RunPlan* BuildRunPlan(PolicyRecord* policy, bool for_run) {
  RunPlan* plan = static_cast<RunPlan*>(palloc0(sizeof(RunPlan)));
  plan->policy = policy;

  if (get_rel_name(policy->relid) == nullptr)
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
                    errmsg("table of retention policy \"%s\" no longer exists", policy->name)));

  // Everything below runs as the table's owner: expression parsing, index
  // matching (constant folding) and the key queries can reach user code.
  CheckPolicyOwnerOwnsTable(policy->name, policy->owner, policy->relid);
  int bounds = BeginBatchBounds(for_run);
  Sandbox sandbox;
  BeginSandbox(RelationOwner(policy->relid), policy->timezone, &sandbox);

  ErrorContextCallback callback;
  callback.callback = ColumnChangedContext;
  callback.arg = policy->name;
  callback.previous = error_context_stack;
  error_context_stack = &callback;
  AnalyzedExpression expires =
      AnalyzeExpression(policy->relid, policy->expires_at, ExprRole::kExpiresAt);
  AnalyzedExpression filter;
  if (policy->filter) filter = AnalyzeExpression(policy->relid, policy->filter, ExprRole::kFilter);
  error_context_stack = callback.previous;
  CheckColumnsUnchanged(policy, &expires, policy->filter ? &filter : nullptr);
  // The table may have changed owner since the policy was checked: the
  // functions the expressions call must be trusted by its owner now.
  Oid table_owner = RelationOwner(policy->relid);
  CheckExpressionObjects(&expires, table_owner, "expires_at");
  if (policy->filter) CheckExpressionObjects(&filter, table_owner, "filter");

  SourceInfo* source = DescribeSource(policy->relid, &expires);
  if (policy->mode == core::Mode::kArchive) {
    if (policy->archive_relid == InvalidOid || get_rel_name(policy->archive_relid) == nullptr)
      ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
                      errmsg("archive table of retention policy \"%s\" no longer exists",
                             policy->name)));
    CheckArchiveTable(policy->archive_relid, source, RelationOwner(policy->relid));
    CheckReferencingForeignKeys(policy->relid, true);
    plan->archive_name = quote_qualified_identifier(
        get_namespace_name(get_rel_namespace(policy->archive_relid)),
        get_rel_name(policy->archive_relid));
  }

  if (source->expiry_index) {
    plan->path = static_cast<int>(core::AccessPath::kIndex);
    plan->ncursor = 1;
    plan->cursor_types[0] = expires.type_oid;
  } else if (source->nkeys > 0) {
    plan->path = static_cast<int>(core::AccessPath::kPrimaryKeyWalk);
    plan->ncursor = source->nkeys;
    for (int i = 0; i < source->nkeys; ++i) plan->cursor_types[i] = source->keys[i].type_oid;
  } else {
    plan->path = static_cast<int>(core::AccessPath::kBlockRange);
    plan->ncursor = 0;
  }
  for (int i = 0; i < plan->ncursor; ++i) {
    int16 len;
    bool byval;
    get_typlenbyval(plan->cursor_types[i], &len, &byval);
    plan->cursor_len[i] = len;
    plan->cursor_byval[i] = byval;
  }
  plan->access_path = pstrdup(DescribeAccessPath(source));
  plan->ncolumns = source->ncolumns;
  plan->column_names = source->column_names;
  plan->column_types = source->column_types;
  plan->column_typmods = source->column_typmods;
  plan->batch_size = policy->batch_size > 0 ? policy->batch_size : guc_default_batch_size;

  if (plan->path == static_cast<int>(core::AccessPath::kBlockRange)) {
    Relation rel = relation_open(policy->relid, AccessShareLock);
    plan->end_block = RelationGetNumberOfBlocks(rel);
    relation_close(rel, AccessShareLock);
    plan->blocks_per_batch =
        core::BlocksPerBatch(plan->batch_size, source->reltuples, source->relpages);
  }

  PlainSpec spec;
  spec.source = source->qualified;
  spec.expires_at = policy->expires_at;
  spec.filter = policy->filter;
  spec.mode = policy->mode;
  spec.archive = plan->archive_name;
  spec.ncolumns = source->ncolumns;
  spec.columns = source->column_quoted;
  spec.path = plan->path;
  spec.nkeys = source->nkeys;
  spec.keys = source->keys;
  BuiltSql sql = BuildStatements(&spec);
  plan->sql_first = sql.first;
  plan->sql_next = sql.next;
  for (int lower = 0; lower < 2; ++lower) {
    plan->sql_range[lower] = sql.range[lower];
    plan->sql_bound[lower] = sql.bound[lower];
    plan->sql_last_key[lower] = sql.last_key[lower];
  }
  plan->range_row_count_is_deleted = sql.range_row_count_is_deleted;
  plan->sql_preview = sql.preview;
  if (for_run) RestoreCursor(plan);

  EndSandbox(&sandbox);
  EndBatchBounds(bounds);
  return plan;
}

// "primary key walk:20", "index tokens_idx:1184", "block range walk".
static char* CursorKind(const RunPlan* plan) {
  StringInfoData kind;
  initStringInfo(&kind);
  appendStringInfoString(&kind, plan->access_path);
  for (int i = 0; i < plan->ncursor; ++i)
    appendStringInfo(&kind, "%c%u", i == 0 ? ':' : ',', plan->cursor_types[i]);
  return kind.data;
}

int CursorAsText(const RunPlan* plan, const char** kind, char*** values) {
  *kind = CursorKind(plan);
  if (static_cast<core::AccessPath>(plan->path) == core::AccessPath::kBlockRange) {
    if (plan->next_block == 0) return -1;
    *values = static_cast<char**>(palloc0(sizeof(char*) * 2));
    (*values)[0] = psprintf(INT64_FORMAT, static_cast<int64>(plan->next_block));
    return 1;
  }
  if (!plan->have_cursor) return -1;
  *values = static_cast<char**>(palloc0(sizeof(char*) * (plan->ncursor + 1)));
  for (int i = 0; i < plan->ncursor; ++i) {
    Oid output;
    bool varlena;
    getTypeOutputInfo(plan->cursor_types[i], &output, &varlena);
    (*values)[i] = OidOutputFunctionCall(output, plan->cursor[i]);
  }
  return plan->ncursor;
}

void RestoreCursor(RunPlan* plan) {
  const PolicyRecord* policy = plan->policy;
  if (policy->cursor_kind == nullptr || strcmp(policy->cursor_kind, CursorKind(plan)) != 0)
    return;  // none saved, or saved for another access path or key
  if (static_cast<core::AccessPath>(plan->path) == core::AccessPath::kBlockRange) {
    if (policy->ncursor == 1 && policy->cursor[0])
      plan->next_block = strtoll(policy->cursor[0], nullptr, 10);
    return;
  }
  if (policy->ncursor != plan->ncursor) return;
  for (int i = 0; i < plan->ncursor; ++i) {
    if (policy->cursor[i] == nullptr) return;
    Oid input, ioparam;
    getTypeInputInfo(plan->cursor_types[i], &input, &ioparam);
    plan->cursor[i] = OidInputFunctionCall(input, policy->cursor[i], ioparam, -1);
  }
  plan->have_cursor = true;
}

void ArmBatchTimeout() {
  outer_timeout_active = get_timeout_active(STATEMENT_TIMEOUT);
  outer_timeout_at = outer_timeout_active ? get_timeout_finish_time(STATEMENT_TIMEOUT) : 0;
  batch_timeout_at = 0;
  if (guc_statement_timeout_ms <= 0) return;
  batch_timeout_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), guc_statement_timeout_ms);
  if (!outer_timeout_active || batch_timeout_at < outer_timeout_at)
    enable_timeout_at(STATEMENT_TIMEOUT, batch_timeout_at);
  armed = true;
}

void DisarmBatchTimeout() {
  if (batch_timeout_at == 0 || !armed) return;
  armed = false;
  disable_timeout(STATEMENT_TIMEOUT, false);
  if (outer_timeout_active) enable_timeout_at(STATEMENT_TIMEOUT, outer_timeout_at);
}

bool OurStatementTimeoutExpired() {
  if (batch_timeout_at == 0) return false;
  TimestampTz now = GetCurrentTimestamp();
  return now >= batch_timeout_at && (!outer_timeout_active || now < outer_timeout_at);
}

// Keeps a copy of the key datums of row 0 of the last SPI result as the
// walk's cursor, in the plan's memory.
static void TakeCursor(RunPlan* plan, int first_column, bool* all_null, bool* changed) {
  HeapTuple tup = SPI_tuptable->vals[0];
  TupleDesc desc = SPI_tuptable->tupdesc;
  MemoryContext old = MemoryContextSwitchTo(GetMemoryChunkContext(plan));
  *all_null = true;
  *changed = !plan->have_cursor;
  for (int i = 0; i < plan->ncursor; ++i) {
    bool isnull;
    Datum d = SPI_getbinval(tup, desc, first_column + i, &isnull);
    if (isnull) continue;
    *all_null = false;
    if (plan->have_cursor) {
      if (!datumIsEqual(d, plan->cursor[i], plan->cursor_byval[i], plan->cursor_len[i]))
        *changed = true;
      if (!plan->cursor_byval[i]) pfree(DatumGetPointer(plan->cursor[i]));
    }
    plan->cursor[i] = datumCopy(d, plan->cursor_byval[i], plan->cursor_len[i]);
  }
  MemoryContextSwitchTo(old);
}

// Locks the source for the batch (the lock its DELETE takes anyway, held to
// the end of the transaction) and checks it still has the plan's columns
// and that the policy's owner still owns it. Returns the table's owner, as
// whom the batch runs.
static Oid CheckSourceUnchanged(const RunPlan* plan) {
  Relation rel = try_relation_open(plan->policy->relid, RowExclusiveLock);
  if (rel == nullptr)
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
                    errmsg("table of retention policy \"%s\" no longer exists",
                           plan->policy->name)));
  TupleDesc desc = RelationGetDescr(rel);
  int live = 0;
  bool same = true;
  for (int i = 0; i < desc->natts && same; ++i) {
    Form_pg_attribute att = TupleDescAttr(desc, i);
    if (att->attisdropped) continue;
    same = live < plan->ncolumns && strcmp(NameStr(att->attname), plan->column_names[live]) == 0 &&
           att->atttypid == plan->column_types[live] &&
           att->atttypmod == plan->column_typmods[live];
    live++;
  }
  same = same && live == plan->ncolumns;
  const char* name = pstrdup(RelationGetRelationName(rel));
  Oid owner = rel->rd_rel->relowner;
  relation_close(rel, NoLock);
  if (!same)
    ereport(ERROR,
            (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
             errmsg("the columns of table \"%s\" changed during a run of retention policy \"%s\"",
                    name, plan->policy->name),
             errdetail("The batch was not run, so no row was removed."),
             errhint("The next run works with the new definition.")));
  CheckPolicyOwnerOwnsTable(plan->policy->name, plan->policy->owner, plan->policy->relid);
  return owner;
}

void ExecuteBatch(RunPlan* plan, int64_t limit, BatchResult* result) {
  memset(result, 0, sizeof(*result));
  const core::AccessPath path = static_cast<core::AccessPath>(plan->path);

  Oid types[2 + 2 * kMaxCursorColumns];
  Datum values[2 + 2 * kMaxCursorColumns];
  types[0] = TIMESTAMPTZOID;
  values[0] = TimestampTzGetDatum(plan->policy->cutoff);
  types[1] = INT8OID;
  values[1] = Int64GetDatum(limit);
  int nargs = 2;
  const char* sql = plan->sql_next;
  ItemPointerData range[2];
  bool has_upper = false;
  Datum upper[kMaxCursorColumns];

  // Deferred foreign keys would fire at commit, outside the owner's
  // restricted context, where PostgreSQL refuses them: check them with the
  // batch statement instead.
  if (SPI_execute("SET CONSTRAINTS ALL IMMEDIATE", false, 0) != SPI_OK_UTILITY)
    elog(ERROR, "could not make constraints immediate");

  int bounds = BeginBatchBounds();
  // Takes the batch's table lock, under lock_timeout; no user code runs yet.
  Oid table_owner = CheckSourceUnchanged(plan);
  Sandbox sandbox;
  BeginSandbox(table_owner, plan->policy->timezone, &sandbox);

  bool last_range = false;
  if (path == core::AccessPath::kPrimaryKeyWalk) {
    // Where does the next range of `limit` keys end? Fewer keys left: the
    // last range ends at the highest key there is now. No key: done.
    Oid bound_types[kMaxCursorColumns + 1];
    Datum bound_values[kMaxCursorColumns + 1];
    int nbound = 0;
    if (plan->have_cursor)
      for (int i = 0; i < plan->ncursor; ++i) {
        bound_types[nbound] = plan->cursor_types[i];
        bound_values[nbound++] = plan->cursor[i];
      }
    bound_types[nbound] = INT8OID;
    bound_values[nbound] = Int64GetDatum(limit - 1);
    int rc = SPI_execute_with_args(plan->sql_bound[plan->have_cursor], nbound + 1, bound_types,
                                   bound_values, NULL, false, 1);
    if (rc != SPI_OK_SELECT) elog(ERROR, "retention key bound query failed");
    if (SPI_processed == 0) {
      SPI_freetuptable(SPI_tuptable);
      last_range = true;
      rc = SPI_execute_with_args(plan->sql_last_key[plan->have_cursor], nbound, bound_types,
                                 bound_values, NULL, false, 1);
      if (rc != SPI_OK_SELECT) elog(ERROR, "retention last key query failed");
    }
    has_upper = SPI_processed == 1;
    if (has_upper) {
      bool isnull;
      for (int i = 0; i < plan->ncursor; ++i) {
        Datum d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1, &isnull);
        upper[i] = datumCopy(d, plan->cursor_byval[i], plan->cursor_len[i]);
      }
    }
    SPI_freetuptable(SPI_tuptable);
    if (!has_upper) {  // nothing after the cursor
      EndSandbox(&sandbox);
      EndBatchBounds(bounds);
      result->walk_finished = true;
      return;
    }
    if (plan->have_cursor)
      for (int i = 0; i < plan->ncursor; ++i) {
        types[nargs] = plan->cursor_types[i];
        values[nargs++] = plan->cursor[i];
      }
    for (int i = 0; i < plan->ncursor; ++i) {
      types[nargs] = plan->cursor_types[i];
      values[nargs++] = upper[i];
    }
    sql = plan->sql_range[plan->have_cursor];
  } else if (path == core::AccessPath::kBlockRange) {
    ItemPointerSet(&range[0], static_cast<BlockNumber>(plan->next_block), 0);
    int64_t end = plan->next_block + plan->blocks_per_batch;
    ItemPointerSet(&range[1], static_cast<BlockNumber>(end > MaxBlockNumber ? MaxBlockNumber : end), 0);
    types[2] = TIDOID;
    values[2] = PointerGetDatum(&range[0]);
    types[3] = TIDOID;
    values[3] = PointerGetDatum(&range[1]);
    nargs = 4;
  } else if (plan->have_cursor) {
    types[nargs] = plan->cursor_types[0];
    values[nargs++] = plan->cursor[0];
  } else {
    sql = plan->sql_first;
  }

  int rc = SPI_execute_with_args(sql, nargs, types, values, NULL, false, 0);
  EndSandbox(&sandbox);
  EndBatchBounds(bounds);
  // User code can catch query_canceled and go on: a batch that outlived its
  // statement timeout fails all the same (and is retried as a timeout).
  if (OurStatementTimeoutExpired())
    ereport(ERROR, (errcode(ERRCODE_QUERY_CANCELED),
                    errmsg("canceling retention batch due to statement timeout"),
                    errdetail("The batch ran past retention.statement_timeout.")));
  bool index_all_null = true, index_changed = false;
  if (path == core::AccessPath::kPrimaryKeyWalk && plan->range_row_count_is_deleted) {
    // A plain DELETE: its row count is the rows deleted.
    if (rc != SPI_OK_DELETE)
      elog(ERROR, "retention batch returned an unexpected result: %s",
           SPI_result_code_string(rc));
    result->deleted = static_cast<int64_t>(SPI_processed);
    result->archived = 0;
    result->scanned = 0;
  } else {
    if (rc != SPI_OK_SELECT || SPI_processed != 1)
      elog(ERROR, "retention batch returned an unexpected result: %s",
           SPI_result_code_string(rc));
    HeapTuple tup = SPI_tuptable->vals[0];
    TupleDesc desc = SPI_tuptable->tupdesc;
    bool isnull;
    result->deleted = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
    result->archived = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
    result->scanned = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
    if (path == core::AccessPath::kIndex) TakeCursor(plan, 4, &index_all_null, &index_changed);
    SPI_freetuptable(SPI_tuptable);  // one per batch: do not let them pile up in the run
  }

  if (plan->policy->mode == core::Mode::kArchive && result->archived != result->deleted)
    ereport(ERROR,
            (errcode(ERRCODE_TRIGGERED_DATA_CHANGE_VIOLATION),
             errmsg("archive table %s stored " INT64_FORMAT " of " INT64_FORMAT " rows",
                    plan->archive_name, result->archived, result->deleted),
             errdetail("A trigger or rule on the archive table changed the rows written; the "
                       "batch was rolled back, so no row was deleted."),
             errhint("Remove the trigger or rule, or let it write every row it is given.")));

  // Advance the cursor.
  switch (path) {
    case core::AccessPath::kPrimaryKeyWalk: {
      // The next range starts after this one; none after the last.
      MemoryContext old = MemoryContextSwitchTo(GetMemoryChunkContext(plan));
      for (int i = 0; i < plan->ncursor; ++i) {
        if (plan->have_cursor && !plan->cursor_byval[i])
          pfree(DatumGetPointer(plan->cursor[i]));
        plan->cursor[i] = datumCopy(upper[i], plan->cursor_byval[i], plan->cursor_len[i]);
        if (!plan->cursor_byval[i]) pfree(DatumGetPointer(upper[i]));
      }
      MemoryContextSwitchTo(old);
      plan->have_cursor = true;
      result->walk_finished = last_range;
      break;
    }
    case core::AccessPath::kIndex: {
      plan->have_cursor = plan->have_cursor || !index_all_null;
      // A short batch reached the end; a full one that moved nothing and did
      // not advance would only find the same rows again.
      result->walk_finished = index_all_null || result->scanned < limit ||
                              (result->deleted == 0 && !index_changed);
      break;
    }
    case core::AccessPath::kBlockRange:
      // A full batch may have left rows in its range: visit it again, unless
      // it removed nothing.
      if (result->scanned < limit || result->deleted == 0)
        plan->next_block += plan->blocks_per_batch;
      result->walk_finished = plan->next_block >= plan->end_block;
      break;
  }
}

void ExecutePreview(RunPlan* plan, int64_t* purgeable, bool* oldest_null, int64_t* oldest) {
  Oid types[1] = {TIMESTAMPTZOID};
  Datum values[1] = {TimestampTzGetDatum(plan->policy->cutoff)};
  Sandbox sandbox;
  BeginSandbox(RelationOwner(plan->policy->relid), plan->policy->timezone, &sandbox);
  int rc = SPI_execute_with_args(plan->sql_preview, 1, types, values, NULL, true, 0);
  EndSandbox(&sandbox);
  if (rc != SPI_OK_SELECT || SPI_processed != 1)
    elog(ERROR, "retention preview failed: %s", SPI_result_code_string(rc));
  bool isnull;
  *purgeable = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
  Datum d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, oldest_null);
  *oldest = *oldest_null ? 0 : DatumGetTimestampTz(d);
}

}  // namespace pg_retention::pg
