// copy_first.cpp: the copy-first form of an archive batch; see
// copy_first.hpp.
#include "pg/run/copy_first.hpp"

#include "pg/module/subtransaction.hpp"
#include "pg/run/batch_executor.hpp"

extern "C" {
#include "postgres.h"

#include "access/relation.h"
#include "catalog/pg_class.h"
#include "executor/spi.h"
#include "pgstat.h"
#include "storage/lockdefs.h"
#include "utils/elog.h"
#include "utils/fmgrprotos.h"
#include "utils/rel.h"
}

namespace pg_retention::pg {

namespace {

// No code of a table's owner can add or hide a row in either count.
bool RelationRunsNoUserCode(Relation rel) {
  return rel->trigdesc == nullptr && rel->rd_rules == nullptr &&
         !(rel->rd_rel->relrowsecurity && rel->rd_rel->relforcerowsecurity);
}

// Rows this transaction (its live subtransactions included) deleted from
// the table so far, as the statistics counter keeps them.
int64_t TuplesDeletedSoFar(Oid relid) {
  return DatumGetInt64(DirectFunctionCall1(pg_stat_get_xact_tuples_deleted,
                                           ObjectIdGetDatum(relid)));
}

struct Attempt {
  const CopyFirstBatch* batch;
  Oid relid;
  int64_t deleted;
  int64_t archived;
  bool differ;
};

void RunAttempt(Attempt* a) {
  const int64_t before = TuplesDeletedSoFar(a->relid);
  int rc = SPI_execute_with_args(a->batch->sql, a->batch->nargs, const_cast<Oid*>(a->batch->types),
                                 const_cast<Datum*>(a->batch->values), NULL, false, 0);
  if (rc != SPI_OK_INSERT)
    elog(ERROR, "retention batch returned an unexpected result: %s", SPI_result_code_string(rc));
  a->archived = static_cast<int64_t>(SPI_processed);
  a->deleted = TuplesDeletedSoFar(a->relid) - before;
  if (a->archived != a->deleted) {
    a->differ = true;
    ereport(ERROR, (errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
                    errmsg("rows of a retention batch changed while they were copied")));
  }
}

}  // namespace

bool CopyFirstAllowed(const RunPlan* plan) {
  if (plan->sql_copy_first[plan->have_cursor] == nullptr || !pgstat_track_counts) return false;
  Relation source = relation_open(plan->policy->relid, NoLock);
  bool allowed = RelationRunsNoUserCode(source);
  relation_close(source, NoLock);
  if (!allowed) return false;
  Relation archive = relation_open(plan->policy->archive_relid, RowExclusiveLock);
  allowed = archive->rd_rel->relkind == RELKIND_RELATION && RelationRunsNoUserCode(archive);
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
