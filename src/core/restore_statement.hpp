// restore_statement.hpp: the SQL of retention.restore(), which moves archived
// rows back into the source table. One batch is ONE statement: it locks up
// to $1 archive rows (SKIP LOCKED), deletes them from the archive and
// inserts exactly those rows into the source, columns by name, so a row is
// always in exactly one of the two tables.
//
// Versions: the archive may hold several versions of a key (a key that came
// back into the source and expired again). Only the latest version of a key
// (highest archived_at, then highest ctid) whose key is not in the source is
// restored; the others stay in the archive and are counted as "kept", as are
// rows whose key is in the source already. Without a primary key on the
// source there are no versions: every matching row is restored.
//
// Identifiers come quoted and the filter deparsed by the server; nothing
// here parses SQL.
#pragma once
#include "core/wall.hpp"

#include <string>
#include <vector>

#include "core/statement_builder.hpp"
#include "core/status.hpp"

namespace pg_retention::core {

struct RestoreStatementSpec {
  std::string source;                // quoted, schema-qualified source table
  std::string archive;               // quoted, schema-qualified archive table
  std::vector<std::string> columns;  // quoted source columns written back
  std::vector<KeyColumn> key;        // the source's primary key, empty if none
  std::string filter;                // deparsed over the archive's columns; empty: all
  bool archive_has_archived_at = true;
  // The archive is partitioned (archive_partition): its partitions are read
  // too (no ONLY), and a row is named by (tableoid, ctid).
  bool archive_partitioned = false;
};

struct RestoreStatement {
  Status status;
  std::string sql;
};

// One batch. $1: most rows to restore (int8). Result: one row
// (removed int8: rows deleted from the archive, restored int8: rows inserted
// into the source); the engine refuses the batch unless they are equal.
RestoreStatement BuildRestoreBatch(const RestoreStatementSpec& spec);

// The counts, with no parameter: (restorable int8, kept int8). restorable:
// rows a restore with no row limit would move now; kept: matching rows that
// would stay (their key is in the source, or a later version of it is
// restored instead).
RestoreStatement BuildRestoreCount(const RestoreStatementSpec& spec);

}  // namespace pg_retention::core
