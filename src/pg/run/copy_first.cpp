// copy_first.cpp: the copy-first form of an archive batch; see
// copy_first.hpp. Its safety rests on two facts checked here: the statement
// runs no code but PostgreSQL's own (so the predicate means the same in the
// INSERT and the DELETE, and nothing else deletes from the table), and the
// rows deleted, a subset of the rows copied, are as many as them.
#include "pg/run/copy_first.hpp"

#include <cstring>

#include "pg/module/subtransaction.hpp"
#include "pg/policy/expression.hpp"
#include "pg/run/batch_executor.hpp"

extern "C" {
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/pg_am_d.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "pgstat.h"
#include "rewrite/rewriteHandler.h"
#include "storage/lockdefs.h"
#include "utils/builtins.h"
#include "utils/elog.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

}

namespace pg_retention::pg {

namespace {

bool IsUserFunction(Oid func, void*) { return func >= FirstNormalObjectId; }
bool IsDomain(Oid, void*) { return true; }  // its CHECK constraints are code

// Any function, operator or cast of the node that is not PostgreSQL's own,
// or a domain.
bool RunsUserCode(Node* node) {
  return node != nullptr && FindFunctionOrDomain(node, IsUserFunction, IsDomain, nullptr);
}

// A plain heap table (the scheme rests on heap xmax semantics) whose
// triggers, rules or forced row security would not run the owner's code.
bool PlainHeapRunningNoUserCode(Relation rel) {
  return rel->rd_rel->relkind == RELKIND_RELATION && rel->rd_rel->relam == HEAP_TABLE_AM_OID &&
         rel->trigdesc == nullptr && rel->rd_rules == nullptr &&
         !(rel->rd_rel->relrowsecurity && rel->rd_rel->relforcerowsecurity);
}

bool NameIs(Relation rel, const char* quoted) {
  const char* now = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
                                               RelationGetRelationName(rel));
  return strcmp(now, quoted) == 0;
}

// An index of the archive runs no code when it has no expressions, no
// predicate and is not an exclusion constraint (its operators come from
// operator classes, which only superusers create).
bool IndexIsPlain(Oid indexoid) {
  HeapTuple tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexoid));
  if (!HeapTupleIsValid(tup)) return false;
  Form_pg_index index = (Form_pg_index) GETSTRUCT(tup);
  bool plain = !index->indisexclusion && heap_attisnull(tup, Anum_pg_index_indexprs, NULL) &&
               heap_attisnull(tup, Anum_pg_index_indpred, NULL);
  ReleaseSysCache(tup);
  return plain;
}

// Columns the INSERT leaves to their defaults: those not in the source.
bool SourceHasColumn(const RunPlan* plan, const char* name) {
  for (int i = 0; i < plan->ncolumns; ++i)
    if (strcmp(plan->column_names[i], name) == 0) return true;
  return false;
}

// The archive's INSERT runs no code of anybody's: no CHECK constraint, no
// generated column, no domain, defaults (archived_at's now()) and indexes
// of PostgreSQL's own.
bool ArchiveInsertRunsNoUserCode(const RunPlan* plan, Relation rel) {
  TupleDesc desc = RelationGetDescr(rel);
  if (desc->constr != nullptr && (desc->constr->num_check > 0 || desc->constr->has_generated_stored))
    return false;
  for (int i = 0; i < desc->natts; ++i) {
    Form_pg_attribute att = TupleDescAttr(desc, i);
    if (att->attisdropped) continue;
    if (get_typtype(att->atttypid) == TYPTYPE_DOMAIN) return false;
    if (!att->atthasdef || SourceHasColumn(plan, NameStr(att->attname))) continue;
    if (RunsUserCode(build_column_default(rel, att->attnum))) return false;
  }
  List* indexes = RelationGetIndexList(rel);
  ListCell* lc;
  foreach (lc, indexes)
    if (!IndexIsPlain(lfirst_oid(lc))) return false;
  return true;
}

// Rows this transaction (its live subtransactions included) deleted from
// the table so far, as the statistics counter keeps them.
int64_t TuplesDeletedSoFar(Oid relid) {
  return DatumGetInt64(DirectFunctionCall1(pg_stat_get_xact_tuples_deleted,
                                           ObjectIdGetDatum(relid)));
}

constexpr int kMaxArgs = 2 + 2 * kMaxCursorColumns + 1;

struct Attempt {
  const CopyFirstBatch* batch;
  Oid relid;
  int64_t deleted;
  int64_t archived;
  bool differ;
};

// The batch's parameters and, after them, the transaction id its row locks
// carry: this subtransaction's (core::BatchStatement::copy_first_xid_param).
//
// Why that id keeps a newer row version from being deleted (see
// core/statement_builder.cpp, CopyFirstStatement): ExecDelete locks the
// newest version with LockTupleExclusive before re-checking it, which waits
// out every other locker, so its xmax is then exactly this id, as a plain
// xid (a MultiXact would need another lock of this very transaction on a
// version created after the statement's snapshot). Re-check this if the
// batch's subtransaction ever locks rows before the statement, runs a
// second statement, or "locked" changes its lock mode. Reviewed against
// PostgreSQL 15 and 18 (heap_lock_tuple, heapam_tuple_lock, EvalPlanQual).
void BindWithOwnXid(const CopyFirstBatch* batch, Oid* types, Datum* values) {
  if (batch->nargs + 1 != batch->xid_param || batch->nargs + 1 > kMaxArgs)
    elog(ERROR, "retention copy-first batch has %d parameters, its transaction id is $%d",
         batch->nargs, batch->xid_param);
  for (int i = 0; i < batch->nargs; ++i) {
    types[i] = batch->types[i];
    values[i] = batch->values[i];
  }
  types[batch->nargs] = XIDOID;
  values[batch->nargs] = TransactionIdGetDatum(GetCurrentTransactionId());
}

// The statement, and what it did. SPI advances the command counter once
// after it; a data-modifying statement that code in it ran would have
// advanced it further: then the counts cannot be trusted (no such code can
// run, see CopyFirstAllowed; checked all the same).
void RunAttempt(Attempt* a) {
  Oid types[kMaxArgs];
  Datum values[kMaxArgs];
  BindWithOwnXid(a->batch, types, values);
  CommandCounterIncrement();
  const CommandId command = GetCurrentCommandId(false);
  const int64_t before = TuplesDeletedSoFar(a->relid);
  int rc = SPI_execute_with_args(a->batch->sql, a->batch->nargs + 1, types, values, NULL, false, 0);
  if (rc != SPI_OK_INSERT)
    elog(ERROR, "retention batch returned an unexpected result: %s", SPI_result_code_string(rc));
  a->archived = static_cast<int64_t>(SPI_processed);
  a->deleted = TuplesDeletedSoFar(a->relid) - before;
  if (a->archived != a->deleted || GetCurrentCommandId(false) - command > 1) {
    a->differ = true;
    ereport(ERROR, (errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
                    errmsg("rows of a retention batch changed while they were copied")));
  }
}

}  // namespace

bool ExpressionsRunNoUserCode(void* expires_at, void* filter) {
  return !RunsUserCode(static_cast<Node*>(expires_at)) && !RunsUserCode(static_cast<Node*>(filter));
}

bool CopyFirstAllowed(const RunPlan* plan) {
  if (plan->sql_copy_first[plan->have_cursor] == nullptr || !plan->expressions_builtin ||
      !pgstat_track_counts)
    return false;
  Relation source = relation_open(plan->policy->relid, NoLock);  // locked by the batch
  bool allowed = PlainHeapRunningNoUserCode(source) && NameIs(source, plan->source_name);
  relation_close(source, NoLock);
  if (!allowed) return false;
  Relation archive = try_relation_open(plan->policy->archive_relid, RowExclusiveLock);
  if (archive == nullptr) return false;
  allowed = PlainHeapRunningNoUserCode(archive) && NameIs(archive, plan->archive_name) &&
            ArchiveInsertRunsNoUserCode(plan, archive);
  relation_close(archive, NoLock);
  return allowed;
}

bool TryCopyFirst(const RunPlan* plan, const CopyFirstBatch* batch, int64_t* deleted,
                  int64_t* archived) {
  Attempt attempt = {batch, plan->policy->relid, 0, 0, false};
  ErrorData* error = InSubtransaction([&attempt]() { RunAttempt(&attempt); });
  if (error == nullptr) {
    *deleted = attempt.deleted;
    *archived = attempt.archived;
    return true;
  }
  if (!attempt.differ) ReThrowError(error);
  ereport(DEBUG1, (errmsg("retention policy \"%s\": copy-first batch copied " INT64_FORMAT
                          " rows but deleted " INT64_FORMAT "; running it again with "
                          "DELETE ... RETURNING",
                          plan->policy->name, attempt.archived, attempt.deleted)));
  FreeErrorData(error);
  return false;
}

}  // namespace pg_retention::pg
