// statement_builder.hpp: builds the SQL text of one batch and of the preview
// query. Every batch is ONE statement: it picks rows (FOR UPDATE SKIP LOCKED),
// deletes them with the expiry predicate re-checked on the row it deletes,
// and in archive mode inserts exactly the deleted rows into the archive,
// mapping columns by name. The caller passes identifiers already quoted and
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

struct KeyColumn {
  std::string name;       // quoted column name
  std::string op_schema;  // quoted schema of the btree operators of its opclass
};

struct BatchStatementSpec {
  std::string source;          // quoted, schema-qualified source table
  std::string expires_at;      // deparsed expiry expression
  std::string filter;          // deparsed filter, empty when none
  Mode mode = Mode::kDelete;
  std::string archive;                // quoted, schema-qualified archive table
  std::vector<std::string> columns;   // quoted columns moved to the archive
  AccessPath path = AccessPath::kPrimaryKeyWalk;
  std::vector<KeyColumn> key;         // primary key columns (kPrimaryKeyWalk)
};

// Parameters of a batch statement:
//   $1 cutoff (timestamptz): rows whose expiry is before it are purgeable
//   $2 batch size (int8)
//   $3... the cursor: the last primary key (kPrimaryKeyWalk, after the first
//   batch), the lowest expiry still to visit (kIndex, after the first batch),
//   or the block range as two tids (kBlockRange, always).
// Result: one row (deleted int8, archived int8, scanned int8, cursor...).
// "scanned" counts the rows the batch visited in its key range or, for
// kIndex and kBlockRange, the rows it locked.
struct BatchStatement {
  Status status;
  std::string sql;
  int cursor_params = 0;   // how many $3... parameters the statement takes
  int cursor_columns = 0;  // how many cursor columns the result row carries
};

BatchStatement BuildBatchStatement(const BatchStatementSpec& spec, bool has_cursor);

// The purgeable predicate alone, over alias t: expiry < $1 [AND filter].
std::string BuildPurgeablePredicate(const BatchStatementSpec& spec);

// Dry run: $1 cutoff -> (purgeable_rows int8, oldest_expiry timestamptz).
std::string BuildPreviewStatement(const BatchStatementSpec& spec);

}  // namespace pg_retention::core
