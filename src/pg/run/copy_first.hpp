// copy_first.hpp: the copy-first form of an archive batch (key walk).
//
// One statement copies every visible purgeable row of the batch's key range
// into the archive (an INSERT, the statement: its row count is the rows
// archived) and then deletes them (a DELETE in a WITH clause that runs after
// it, over the same snapshot). It writes no RETURNING rows into a tuple
// store, which is what makes the DELETE ... RETURNING form slower than two
// plain statements. The DELETE removes a subset of the rows copied (see
// core/statement_builder.cpp); the rows it deleted are counted with the
// table's own statistics counter, pg_stat_get_xact_tuples_deleted(). The
// batch is kept only when both counts are equal; otherwise its
// subtransaction is rolled back, nothing has changed, and the caller runs
// the DELETE ... RETURNING form for this batch.
//
// Used only when the statement runs no code but PostgreSQL's own, so that
// the predicate means the same in the INSERT and the DELETE and nothing else
// deletes from the table: the policy's expressions call built-in functions
// only; both tables are plain heap tables without trigger, rule or forced
// row security; the archive has no CHECK constraints,
// generated columns, domains, expression or partial indexes, with built-in
// defaults; both still have the names the statement uses; track_counts is
// on. Runs inside the caller's sandbox and batch bounds.
#pragma once

#include <cstdint>

typedef uintptr_t Datum;
typedef unsigned int Oid;

namespace pg_retention::pg {

struct RunPlan;

// The batch's statement, parameters bound as for the DELETE ... RETURNING
// form (the same ones); TryCopyFirst adds the last one, the batch's own
// transaction id.
struct CopyFirstBatch {
  const char* sql;
  int nargs;
  const Oid* types;
  const Datum* values;
  int xid_param;  // must be nargs + 1
};

// Whether the policy's analyzed expressions (Node*; filter may be nullptr)
// call built-in functions only, and no domain: decided once per run plan.
bool ExpressionsRunNoUserCode(void* expires_at, void* filter);

// Whether the copy-first form may run for this batch. The source must be
// locked already; takes the archive's RowExclusiveLock (the INSERT's own).
bool CopyFirstAllowed(const RunPlan* plan);

// Runs the batch in a subtransaction of its own. true: committed, *deleted
// and *archived set (equal); false: rolled back, nothing changed. Any other
// error is raised again.
bool TryCopyFirst(const RunPlan* plan, const CopyFirstBatch* batch, int64_t* deleted,
                  int64_t* archived);

}  // namespace pg_retention::pg
