// statement_builder.hpp: builds the SQL text of one batch and of the preview
// query. Every batch is ONE statement: it deletes the purgeable rows of its
// range with the expiry predicate re-checked on the row it deletes, skipping
// rows somebody else holds (rows with a lock mark go through FOR UPDATE
// SKIP LOCKED; the others are deleted directly, one WAL record each), and in
// archive mode inserts exactly the deleted rows into the archive, mapping
// columns by name. The caller passes identifiers already quoted and
// expressions already validated and deparsed by the server; nothing here
// parses SQL.
#pragma once
#include "core/wall.hpp"

#include <string>
#include <vector>

#include "core/policy_model.hpp"
#include "core/status.hpp"

namespace pg_retention::core {

// How batches find their rows.
enum class AccessPath {
  kPrimaryKeyWalk,  // keyset ranges over the primary key
  kIndex,           // an index whose leading key is the expiry expression
  kBlockRange,      // physical block ranges (tables without a primary key)
};

const char* AccessPathName(AccessPath path);

// The path a table gets: an index that leads with the expiry expression wins;
// otherwise the primary key; a table with neither is walked by blocks.
AccessPath ChooseAccessPath(bool has_expiry_index, bool has_primary_key);

struct KeyColumn {
  std::string name;       // quoted column name
  std::string op_schema;  // quoted schema of the btree operators of its opclass
};

struct BatchStatementSpec {
  std::string source;      // quoted, schema-qualified source table
  std::string expires_at;  // deparsed expiry expression
  std::string filter;      // deparsed filter, empty when none
  Mode mode = Mode::kDelete;
  std::string archive;               // quoted, schema-qualified archive table
  std::vector<std::string> columns;  // quoted columns moved to the archive
  AccessPath path = AccessPath::kPrimaryKeyWalk;
  std::vector<KeyColumn> key;  // primary key columns (kPrimaryKeyWalk)
};

// Parameters of a batch statement:
//   $1 cutoff (timestamptz): rows whose expiry is before it are purgeable
//   $2 batch size (int8)
//   $3... kPrimaryKeyWalk: the lower key bound (exclusive, after the first
//         batch), then the upper key bound (inclusive); kIndex: the lowest
//         expiry still to visit (after the first batch); kBlockRange: the
//         block range as two tids.
// Result: one row (deleted int8, archived int8, scanned int8, cursor...).
// "scanned" counts, for kIndex and kBlockRange, the candidate rows the batch
// picked (at most $2); for kPrimaryKeyWalk it is 0, the range says it all.
// Except when row_count_is_deleted: kPrimaryKeyWalk in delete mode is a
// plain DELETE with no result row (RETURNING rows into a CTE only to count
// them costs about a third of the purge); its row count is the rows deleted.
struct BatchStatement {
  Status status;
  std::string sql;
  bool row_count_is_deleted = false;
  // kPrimaryKeyWalk in archive mode: the same batch as a copy-first
  // statement (same parameters), an INSERT whose row count is the rows
  // archived, with the DELETE of those rows in a WITH clause that runs after
  // it. Its DELETE removes a subset of the rows copied; the caller counts
  // the rows it deleted (the table's own statistics counter) and keeps the
  // batch only when both counts are equal, else runs `sql`. Empty otherwise.
  std::string copy_first_sql;
  // copy_first_sql's one parameter more, after the others: the batch's own
  // transaction id (xid), the one its row locks carry.
  int copy_first_xid_param = 0;
  int cursor_params = 0;   // how many $3... parameters the statement takes
  int cursor_columns = 0;  // how many cursor columns the result row carries
};

BatchStatement BuildBatchStatement(const BatchStatementSpec& spec, bool has_cursor);

// kPrimaryKeyWalk: the key $n rows after the lower bound, which closes the
// next range: params are the lower bound (when has_cursor) then the offset
// (int8, batch size - 1). No row back means fewer keys are left: then
// BuildLastKeyQuery (params: the lower bound, when has_cursor) closes the
// last range at the highest key there is now, so rows inserted meanwhile are
// left for the next run.
std::string BuildKeyBoundQuery(const BatchStatementSpec& spec, bool has_cursor);
std::string BuildLastKeyQuery(const BatchStatementSpec& spec, bool has_cursor);

// The purgeable predicate alone, over alias t: expiry < $1 [AND filter].
std::string BuildPurgeablePredicate(const BatchStatementSpec& spec);

// Dry run: $1 cutoff -> (purgeable_rows int8, oldest_expiry timestamptz).
std::string BuildPreviewStatement(const BatchStatementSpec& spec);

}  // namespace pg_retention::core
