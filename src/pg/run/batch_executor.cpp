// batch_executor.cpp: see batch_executor.hpp.
#include "pg/run/batch_executor.hpp"

#include <string>
#include <vector>

#include "core/block_walk.hpp"
#include "core/walk.hpp"
#include "core/statement_builder.hpp"
#include "pg/policy/archive_table.hpp"
#include "pg/policy/expression.hpp"
#include "pg/module/guard.hpp"
#include "pg/module/gucs.hpp"
#include "pg/policy/relation_info.hpp"
#include "pg/module/session.hpp"
#include "pg/run/copy_first.hpp"

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
  core::AccessPath path;
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
  char* copy_first[2];
  int copy_first_xid_param[2];
  bool range_row_count_is_deleted;  // range[]: a plain DELETE, see core
};

// first, next, range[2], bound[2], last_key[2], preview, copy_first[2]
constexpr int kBuiltStrings = 11;

BuiltSql BuildStatements(const PlainSpec* p) {
  CoreError err;
  // malloc'd by the core side, in the order of BuiltSql.
  char* out[kBuiltStrings] = {nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
                              nullptr, nullptr, nullptr, nullptr, nullptr};
  bool row_count_is_deleted = false;
  int xid_param[2] = {0, 0};
  bool ok = CallCore(&err, [](const PlainSpec* in, char** sql, bool* range_deletes,
                              int* copy_first_xid) {
    core::BatchStatementSpec spec;
    spec.source = in->source;
    spec.expires_at = in->expires_at;
    spec.filter = in->filter ? in->filter : "";
    spec.mode = in->mode;
    spec.archive = in->archive ? in->archive : "";
    for (int i = 0; i < in->ncolumns; ++i) spec.columns.emplace_back(in->columns[i]);
    spec.path = in->path;
    for (int i = 0; i < in->nkeys; ++i) spec.key.push_back({in->keys[i].name, in->keys[i].op_schema});
    if (spec.path == core::AccessPath::kPrimaryKeyWalk) {
      for (int lower = 0; lower < 2; ++lower) {
        core::BatchStatement st = core::BuildBatchStatement(spec, lower);
        if (!st.status.ok()) return st.status;
        sql[2 + lower] = CoreStrdup(st.sql);
        *range_deletes = st.row_count_is_deleted;
        if (!st.copy_first_sql.empty()) sql[9 + lower] = CoreStrdup(st.copy_first_sql);
        copy_first_xid[lower] = st.copy_first_xid_param;
        sql[4 + lower] = CoreStrdup(core::BuildKeyBoundQuery(spec, lower));
        sql[6 + lower] = CoreStrdup(core::BuildLastKeyQuery(spec, lower));
      }
    } else {
      if (spec.path == core::AccessPath::kIndex) {
        core::BatchStatement st = core::BuildBatchStatement(spec, false);
        if (!st.status.ok()) return st.status;
        sql[0] = CoreStrdup(st.sql);
      }
      core::BatchStatement st = core::BuildBatchStatement(spec, true);
      if (!st.status.ok()) return st.status;
      sql[1] = CoreStrdup(st.sql);
    }
    sql[8] = CoreStrdup(core::BuildPreviewStatement(spec));
    return core::Status::Ok();
  }, p, out, &row_count_is_deleted, xid_param);
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
    built.copy_first[lower] = out[9 + lower] ? TakeCoreString(out[9 + lower]) : nullptr;
    built.copy_first_xid_param[lower] = xid_param[lower];
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

bool IsArchive(const PolicyRecord* policy) {
  return static_cast<core::Mode>(policy->mode) == core::Mode::kArchive;
}

// The bounds of a batch: the batch lock_timeout and the batch statement
// timeout, around the sandbox in which its statements run. Returns the GUC
// nest level for EndBatchBounds. timeout nullptr (preview): none.
int BeginBatchBounds(BatchTimeout* timeout) {
  int nest = NewGUCNestLevel();
  if (timeout != nullptr) {
    char lock_timeout[32];
    snprintf(lock_timeout, sizeof(lock_timeout), "%d", guc_lock_timeout_ms);
    SetLocalSetting("lock_timeout", lock_timeout);
    ArmBatchTimeout(timeout);
  }
  return nest;
}

void EndBatchBounds(BatchTimeout* timeout, int nest) {
  if (timeout != nullptr) DisarmBatchTimeout(timeout);
  RestoreSettings(nest);
}

// The access path and the cursor's types, from the source's indexes.
void PlanAccessPath(RunPlan* plan, const SourceInfo* source,
                           const AnalyzedExpression* expires) {
  if (source->expiry_index) {
    plan->path = core::AccessPath::kIndex;
    plan->ncursor = 1;
    plan->cursor_types[0] = expires->type_oid;
  } else if (source->nkeys > 0) {
    plan->path = core::AccessPath::kPrimaryKeyWalk;
    plan->ncursor = source->nkeys;
    for (int i = 0; i < source->nkeys; ++i) plan->cursor_types[i] = source->keys[i].type_oid;
  } else {
    plan->path = core::AccessPath::kBlockRange;
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
  plan->batch_size = plan->policy->batch_size > 0 ? plan->policy->batch_size
                                                  : guc_default_batch_size;
  if (plan->path == core::AccessPath::kBlockRange) {
    Relation rel = relation_open(plan->policy->relid, AccessShareLock);
    plan->end_block = RelationGetNumberOfBlocks(rel);
    relation_close(rel, AccessShareLock);
    plan->reltuples = source->reltuples;
    plan->relpages = source->relpages;
  }
}

// The statements of every batch and of the preview, built by the core.
void PlanStatements(RunPlan* plan, const SourceInfo* source) {
  const PolicyRecord* policy = plan->policy;
  PlainSpec spec;
  spec.source = source->qualified;
  spec.expires_at = policy->expires_at;
  spec.filter = policy->filter;
  spec.mode = static_cast<core::Mode>(policy->mode);
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
    plan->sql_copy_first[lower] = sql.copy_first[lower];
    plan->copy_first_xid_param[lower] = sql.copy_first_xid_param[lower];
  }
  plan->range_row_count_is_deleted = sql.range_row_count_is_deleted;
  plan->sql_preview = sql.preview;
}

// The expressions, parsed and checked against the table as it is now.
AnalyzedExpression CheckExpressions(PolicyRecord* policy, AnalyzedExpression* filter) {
  ErrorContextCallback callback;
  callback.callback = ColumnChangedContext;
  callback.arg = policy->name;
  callback.previous = error_context_stack;
  error_context_stack = &callback;
  AnalyzedExpression expires =
      AnalyzeExpression(policy->relid, policy->expires_at, ExprRole::kExpiresAt);
  if (policy->filter) *filter = AnalyzeExpression(policy->relid, policy->filter, ExprRole::kFilter);
  error_context_stack = callback.previous;
  CheckColumnsUnchanged(policy, &expires, policy->filter ? filter : nullptr);
  // The table may have changed owner since the policy was checked: the
  // functions the expressions call must be trusted by its owner now.
  Oid table_owner = RelationOwner(policy->relid);
  CheckExpressionObjects(&expires, table_owner, "expires_at");
  if (policy->filter) CheckExpressionObjects(filter, table_owner, "filter");
  return expires;
}

// Archive mode: the archive table still fits; its quoted name.
char* CheckArchive(const PolicyRecord* policy, SourceInfo* source) {
  if (policy->archive_relid == InvalidOid || get_rel_name(policy->archive_relid) == nullptr)
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
                    errmsg("archive table of retention policy \"%s\" no longer exists",
                           policy->name)));
  CheckArchiveTable(policy->archive_relid, source, RelationOwner(policy->relid));
  CheckReferencingForeignKeys(policy->relid, true);
  return quote_qualified_identifier(get_namespace_name(get_rel_namespace(policy->archive_relid)),
                                    get_rel_name(policy->archive_relid));
}

}  // namespace

RunPlan* BuildRunPlan(PolicyRecord* policy, BatchTimeout* timeout) {
  RunPlan* plan = static_cast<RunPlan*>(palloc0(sizeof(RunPlan)));
  plan->policy = policy;

  if (get_rel_name(policy->relid) == nullptr)
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
                    errmsg("table of retention policy \"%s\" no longer exists", policy->name)));

  // Everything below runs as the table's owner: expression parsing, index
  // matching (constant folding) and the key queries can reach user code.
  CheckPolicyOwnerOwnsTable(policy->name, policy->owner, policy->relid);
  int bounds = BeginBatchBounds(timeout);
  Sandbox sandbox;
  BeginSandbox(RelationOwner(policy->relid), policy->timezone, &sandbox);

  AnalyzedExpression filter;
  AnalyzedExpression expires = CheckExpressions(policy, &filter);
  SourceInfo* source = DescribeSource(policy->relid, &expires);
  if (IsArchive(policy)) plan->archive_name = CheckArchive(policy, source);
  PlanAccessPath(plan, source, &expires);
  PlanStatements(plan, source);
  plan->source_name = source->qualified;
  plan->expressions_builtin =
      ExpressionsRunNoUserCode(expires.node, policy->filter ? filter.node : nullptr);
  if (timeout != nullptr) RestoreCursor(plan);

  EndSandbox(&sandbox);
  EndBatchBounds(timeout, bounds);
  return plan;
}

RunPlan* BuildRunPlan(PolicyRecord* policy, bool for_run) {
  if (!for_run) return BuildRunPlan(policy, static_cast<BatchTimeout*>(nullptr));
  BatchTimeout timeout = {};
  return BuildRunPlan(policy, &timeout);
}

namespace {

// "primary key walk:20", "index tokens_idx:1184", "block range walk".
char* CursorKind(const RunPlan* plan) {
  StringInfoData kind;
  initStringInfo(&kind);
  appendStringInfoString(&kind, plan->access_path);
  for (int i = 0; i < plan->ncursor; ++i)
    appendStringInfo(&kind, "%c%u", i == 0 ? ':' : ',', plan->cursor_types[i]);
  return kind.data;
}

}  // namespace

int CursorAsText(const RunPlan* plan, const char** kind, char*** values) {
  *kind = CursorKind(plan);
  if (plan->path == core::AccessPath::kBlockRange) {
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
  if (plan->path == core::AccessPath::kBlockRange) {
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

void ArmBatchTimeout(BatchTimeout* t) {
  t->outer_active = get_timeout_active(STATEMENT_TIMEOUT);
  t->outer_at = t->outer_active ? get_timeout_finish_time(STATEMENT_TIMEOUT) : 0;
  t->batch_at = 0;
  if (guc_statement_timeout_ms <= 0) return;
  t->batch_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), guc_statement_timeout_ms);
  if (!t->outer_active || t->batch_at < t->outer_at)
    enable_timeout_at(STATEMENT_TIMEOUT, t->batch_at);
  t->armed = true;
}

void DisarmBatchTimeout(BatchTimeout* t) {
  if (t->batch_at == 0 || !t->armed) return;
  t->armed = false;
  disable_timeout(STATEMENT_TIMEOUT, false);
  if (t->outer_active) enable_timeout_at(STATEMENT_TIMEOUT, t->outer_at);
}

bool OurStatementTimeoutExpired(const BatchTimeout* t) {
  if (t->batch_at == 0) return false;
  TimestampTz now = GetCurrentTimestamp();
  return now >= t->batch_at && (!t->outer_active || now < t->outer_at);
}

namespace {

// Keeps a copy of the key datums of row 0 of the last SPI result as the
// walk's cursor, in the plan's memory.
void TakeCursor(RunPlan* plan, int first_column, bool* all_null, bool* changed) {
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
Oid CheckSourceUnchanged(const RunPlan* plan) {
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

}  // namespace

// The arguments of one batch statement: $1 the cutoff, $2 the limit, then
// those of its access path.
struct BatchArgs {
  const char* sql;
  int nargs;
  Oid types[2 + 2 * kMaxCursorColumns];
  Datum values[2 + 2 * kMaxCursorColumns];
};

// What a binder leaves for the step after the statement.
struct PathScratch {
  bool last_range;                  // key walk: the range ends at the highest key
  Datum upper[kMaxCursorColumns];   // key walk: the range's upper key
  ItemPointerData range[2];         // block walk: [first, end) as tids
  int64_t blocks;                   // block walk: blocks in the range
};

namespace {

void AddArg(BatchArgs* args, Oid type, Datum value) {
  args->types[args->nargs] = type;
  args->values[args->nargs++] = value;
}

// Key walk: where does the range of the next `limit` keys end? Fewer keys
// left: the last range ends at the highest key there is now. False when no
// key follows the cursor.
bool FindRangeEnd(RunPlan* plan, int64_t limit, PathScratch* scratch) {
  BatchArgs bound;
  bound.nargs = 0;
  if (plan->have_cursor)
    for (int i = 0; i < plan->ncursor; ++i) AddArg(&bound, plan->cursor_types[i], plan->cursor[i]);
  const int ncursor_args = bound.nargs;
  AddArg(&bound, INT8OID, Int64GetDatum(limit - 1));
  int rc = SPI_execute_with_args(plan->sql_bound[plan->have_cursor], bound.nargs, bound.types,
                                 bound.values, NULL, false, 1);
  if (rc != SPI_OK_SELECT) elog(ERROR, "retention key bound query failed");
  if (SPI_processed == 0) {
    SPI_freetuptable(SPI_tuptable);
    scratch->last_range = true;
    rc = SPI_execute_with_args(plan->sql_last_key[plan->have_cursor], ncursor_args, bound.types,
                               bound.values, NULL, false, 1);
    if (rc != SPI_OK_SELECT) elog(ERROR, "retention last key query failed");
  }
  const bool found = SPI_processed == 1;
  for (int i = 0; found && i < plan->ncursor; ++i) {
    bool isnull;
    Datum d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1, &isnull);
    scratch->upper[i] = datumCopy(d, plan->cursor_byval[i], plan->cursor_len[i]);
  }
  SPI_freetuptable(SPI_tuptable);
  return found;
}

// Key walk: the range (cursor, upper]. False: nothing after the cursor.
bool BindKeyWalk(RunPlan* plan, int64_t limit, BatchArgs* args, PathScratch* scratch) {
  if (!FindRangeEnd(plan, limit, scratch)) return false;
  if (plan->have_cursor)
    for (int i = 0; i < plan->ncursor; ++i) AddArg(args, plan->cursor_types[i], plan->cursor[i]);
  for (int i = 0; i < plan->ncursor; ++i) AddArg(args, plan->cursor_types[i], scratch->upper[i]);
  args->sql = plan->sql_range[plan->have_cursor];
  return true;
}

// Index walk: from the lowest expiry left, once there is one.
bool BindIndex(RunPlan* plan, int64_t limit, BatchArgs* args, PathScratch* scratch) {
  if (!plan->have_cursor) {
    args->sql = plan->sql_first;
    return true;
  }
  AddArg(args, plan->cursor_types[0], plan->cursor[0]);
  args->sql = plan->sql_next;
  return true;
}

// Blocks per batch from the batch's own limit: the range follows the
// adaptive size.
int64_t BlocksFor(const RunPlan* plan, int64_t limit) {
  CoreError err;
  int64_t blocks = 1;
  const double reltuples = plan->reltuples;
  const int64_t relpages = plan->relpages;
  if (!CallCoreInto(&err, core::BlocksPerBatch, &blocks, limit, reltuples, relpages))
    RaiseCoreError(&err);
  return blocks;
}

// Block walk: the range [next_block, next_block + blocks) as two tids.
bool BindBlockRange(RunPlan* plan, int64_t limit, BatchArgs* args, PathScratch* scratch) {
  scratch->blocks = BlocksFor(plan, limit);
  int64_t end = plan->next_block + scratch->blocks;
  ItemPointerSet(&scratch->range[0], static_cast<BlockNumber>(plan->next_block), 0);
  ItemPointerSet(&scratch->range[1], static_cast<BlockNumber>(Min(end, (int64_t) MaxBlockNumber)), 0);
  AddArg(args, TIDOID, PointerGetDatum(&scratch->range[0]));
  AddArg(args, TIDOID, PointerGetDatum(&scratch->range[1]));
  args->sql = plan->sql_next;
  return true;
}

// Key walk: the next range starts after this one; none after the last.
void AdvanceKeyWalk(RunPlan* plan, int64_t limit, PathScratch* scratch,
                           BatchResult* result) {
  MemoryContext old = MemoryContextSwitchTo(GetMemoryChunkContext(plan));
  for (int i = 0; i < plan->ncursor; ++i) {
    if (plan->have_cursor && !plan->cursor_byval[i]) pfree(DatumGetPointer(plan->cursor[i]));
    plan->cursor[i] = datumCopy(scratch->upper[i], plan->cursor_byval[i], plan->cursor_len[i]);
  }
  MemoryContextSwitchTo(old);
  plan->have_cursor = true;
  // A range holds `limit` keys, the last one fewer (at least those deleted).
  result->visited = scratch->last_range ? result->deleted : limit;
  result->walk_finished = scratch->last_range;
}

bool WalkFinished(const core::IndexBatchSeen& seen) {
  CoreError err;
  bool finished = true;
  if (!CallCoreInto(&err, core::IndexWalkFinished, &finished, seen))
    RaiseCoreError(&err);
  return finished;
}

// Index walk: the lowest expiry left becomes the cursor.
void AdvanceIndex(RunPlan* plan, int64_t limit, PathScratch* scratch,
                         BatchResult* result) {
  core::IndexBatchSeen seen;
  TakeCursor(plan, 4, &seen.cursor_all_null, &seen.cursor_changed);
  plan->have_cursor = plan->have_cursor || !seen.cursor_all_null;
  seen.limit = limit;
  seen.candidates = result->visited;
  seen.removed = result->deleted;
  result->walk_finished = WalkFinished(seen);
}

// Block walk: on to the next range, or this one again (core/walk).
void AdvanceBlockRange(RunPlan* plan, int64_t limit, PathScratch* scratch,
                              BatchResult* result) {
  core::BlockBatchSeen seen;
  seen.next_block = plan->next_block;
  seen.blocks = scratch->blocks;
  seen.end_block = plan->end_block;
  seen.limit = limit;
  seen.candidates = result->visited;
  seen.removed = result->deleted;
  CoreError err;
  core::BlockWalkNext next;
  if (!CallCoreInto(&err, core::AdvanceBlockWalk, &next, seen))
    RaiseCoreError(&err);
  plan->next_block = next.next_block;
  result->walk_finished = next.finished;
}

}  // namespace

// One binder and one advancer per access path, in core::AccessPath's order.
struct PathOps {
  bool (*bind)(RunPlan*, int64_t, BatchArgs*, PathScratch*);
  void (*advance)(RunPlan*, int64_t, PathScratch*, BatchResult*);
};
static_assert(static_cast<int>(core::AccessPath::kPrimaryKeyWalk) == 0 &&
                  static_cast<int>(core::AccessPath::kIndex) == 1 &&
                  static_cast<int>(core::AccessPath::kBlockRange) == 2,
              "kPathOps follows core::AccessPath");
namespace {

const PathOps kPathOps[] = {
    {BindKeyWalk, AdvanceKeyWalk},
    {BindIndex, AdvanceIndex},
    {BindBlockRange, AdvanceBlockRange},
};

// The batch statement's counts. A plain DELETE (key walk, delete mode)
// reports its row count; the others one row (deleted, archived, candidates,
// cursor...), which stays in SPI_tuptable for the advancer.
void ReadCounts(const RunPlan* plan, int rc, BatchResult* result) {
  if (plan->range_row_count_is_deleted && plan->path == core::AccessPath::kPrimaryKeyWalk) {
    if (rc != SPI_OK_DELETE)
      elog(ERROR, "retention batch returned an unexpected result: %s", SPI_result_code_string(rc));
    result->deleted = static_cast<int64_t>(SPI_processed);
    return;
  }
  if (rc != SPI_OK_SELECT || SPI_processed != 1)
    elog(ERROR, "retention batch returned an unexpected result: %s", SPI_result_code_string(rc));
  HeapTuple tup = SPI_tuptable->vals[0];
  TupleDesc desc = SPI_tuptable->tupdesc;
  bool isnull;
  result->deleted = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
  result->archived = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
  result->visited = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
}

// Archive mode, key walk: the copy-first form when it may run (and its
// counts agree); false: the caller runs args->sql.
bool TryCopyFirstForm(const RunPlan* plan, const BatchArgs* args, BatchResult* result) {
  if (plan->path != core::AccessPath::kPrimaryKeyWalk || !CopyFirstAllowed(plan)) return false;
  CopyFirstBatch batch = {plan->sql_copy_first[plan->have_cursor], args->nargs, args->types,
                          args->values, plan->copy_first_xid_param[plan->have_cursor]};
  if (TryCopyFirst(plan, &batch, &result->deleted, &result->archived)) return true;
  result->ran_twice = true;
  return false;
}

void CheckArchivedAll(const RunPlan* plan, const BatchResult* result) {
  if (!IsArchive(plan->policy) || result->archived == result->deleted) return;
  ereport(ERROR,
          (errcode(ERRCODE_TRIGGERED_DATA_CHANGE_VIOLATION),
           errmsg("archive table %s stored " INT64_FORMAT " of " INT64_FORMAT " rows",
                  plan->archive_name, result->archived, result->deleted),
           errdetail("A trigger or rule on the archive table changed the rows written; the "
                     "batch was rolled back, so no row was deleted."),
           errhint("Remove the trigger or rule, or let it write every row it is given.")));
}

}  // namespace

void ExecuteBatch(RunPlan* plan, int64_t limit, BatchTimeout* timeout, BatchResult* result) {
  memset(result, 0, sizeof(*result));
  const PathOps& ops = kPathOps[static_cast<int>(plan->path)];
  BatchArgs args;
  args.nargs = 0;
  AddArg(&args, TIMESTAMPTZOID, TimestampTzGetDatum(plan->policy->cutoff));
  AddArg(&args, INT8OID, Int64GetDatum(limit));
  PathScratch scratch;
  memset(&scratch, 0, sizeof(scratch));

  // Deferred foreign keys would fire at commit, outside the owner's
  // restricted context, where PostgreSQL refuses them: check them with the
  // batch statement instead.
  if (SPI_execute("SET CONSTRAINTS ALL IMMEDIATE", false, 0) != SPI_OK_UTILITY)
    elog(ERROR, "could not make constraints immediate");

  int bounds = BeginBatchBounds(timeout);
  // Takes the batch's table lock, under lock_timeout; no user code runs yet.
  Oid table_owner = CheckSourceUnchanged(plan);
  Sandbox sandbox;
  BeginSandbox(table_owner, plan->policy->timezone, &sandbox);
  const bool bound = ops.bind(plan, limit, &args, &scratch);
  const bool counted = bound && TryCopyFirstForm(plan, &args, result);
  int rc = bound && !counted ? SPI_execute_with_args(args.sql, args.nargs, args.types,
                                                     args.values, NULL, false, 0)
                             : SPI_OK_SELECT;
  EndSandbox(&sandbox);
  EndBatchBounds(timeout, bounds);
  if (!bound) {  // nothing left to visit
    result->walk_finished = true;
    return;
  }
  // User code can catch query_canceled and go on: a batch that outlived its
  // statement timeout fails all the same (and is retried as a timeout).
  if (OurStatementTimeoutExpired(timeout))
    ereport(ERROR, (errcode(ERRCODE_QUERY_CANCELED),
                    errmsg("canceling retention batch due to statement timeout"),
                    errdetail("The batch ran past retention.statement_timeout.")));
  if (!counted) ReadCounts(plan, rc, result);
  CheckArchivedAll(plan, result);
  ops.advance(plan, limit, &scratch, result);
  if (SPI_tuptable != nullptr) SPI_freetuptable(SPI_tuptable);  // one per batch
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
