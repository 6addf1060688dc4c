// statement_builder.cpp: the batch and preview statements (see the header for
// the contract of parameters and result columns).
#include "core/statement_builder.hpp"

#include <sstream>

namespace pg_retention::core {

namespace {

std::string Op(const std::string& schema, const char* op) {
  return "OPERATOR(" + schema + "." + op + ")";
}

// "t.a, t.b" for the given alias.
std::string KeyList(const std::vector<KeyColumn>& key, const std::string& alias) {
  std::string out;
  for (std::size_t i = 0; i < key.size(); ++i) {
    if (i) out += ", ";
    out += alias + "." + key[i].name;
  }
  return out;
}

// ORDER BY list using the opclass operators, ascending or descending.
std::string KeyOrder(const std::vector<KeyColumn>& key, const std::string& alias,
                     bool descending) {
  std::string out;
  for (std::size_t i = 0; i < key.size(); ++i) {
    if (i) out += ", ";
    out += alias + "." + key[i].name + " USING " +
           Op(key[i].op_schema, descending ? ">" : "<");
  }
  return out;
}

// "t.k > $3" or "ROW(t.a, t.b) > ROW($3, $4)".
std::string KeyAfterCursor(const std::vector<KeyColumn>& key) {
  const std::string& schema = key.front().op_schema;
  if (key.size() == 1) return "t." + key[0].name + " " + Op(schema, ">") + " $3";
  std::string params;
  for (std::size_t i = 0; i < key.size(); ++i) {
    if (i) params += ", ";
    params += "$" + std::to_string(3 + i);
  }
  return "ROW(" + KeyList(key, "t") + ") " + Op(schema, ">") + " ROW(" + params + ")";
}

// "t.k <= (SELECT l.k FROM last_key l)", row form for composite keys.
std::string KeyUpToLast(const std::vector<KeyColumn>& key) {
  const std::string& schema = key.front().op_schema;
  if (key.size() == 1)
    return "t." + key[0].name + " " + Op(schema, "<=") + " (SELECT l." + key[0].name +
           " FROM last_key l)";
  return "ROW(" + KeyList(key, "t") + ") " + Op(schema, "<=") + " (SELECT " +
         KeyList(key, "l") + " FROM last_key l)";
}

// The DELETE (with its re-checked predicate) and, in archive mode, the
// INSERT of exactly the returned rows, column by column.
std::string MoveClauses(const BatchStatementSpec& spec) {
  std::ostringstream sql;
  sql << "moved AS (\n"
      << "  DELETE FROM ONLY " << spec.source << " t\n"
      << "  WHERE t.ctid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT b.row_id FROM batch b))\n"
      << "    AND " << BuildPurgeablePredicate(spec) << "\n";
  if (spec.mode == Mode::kArchive) {
    std::string returning, target, select;
    for (std::size_t i = 0; i < spec.columns.size(); ++i) {
      if (i) {
        returning += ", ";
        target += ", ";
        select += ", ";
      }
      returning += "t." + spec.columns[i];
      target += spec.columns[i];
      select += "m." + spec.columns[i];
    }
    sql << "  RETURNING " << returning << "\n"
        << "), archived AS (\n"
        << "  INSERT INTO " << spec.archive << " (" << target << ")\n"
        << "  SELECT " << select << " FROM moved m\n"
        << "  RETURNING 1 AS one\n"
        << ")\n";
  } else {
    sql << "  RETURNING 1 AS one\n"
        << ")\n";
  }
  return sql.str();
}

std::string CountsSelect(const BatchStatementSpec& spec, const std::string& scanned_from) {
  std::string archived = spec.mode == Mode::kArchive
                             ? "(SELECT pg_catalog.count(*) FROM archived)"
                             : "0::pg_catalog.int8";
  return "SELECT (SELECT pg_catalog.count(*) FROM moved) AS deleted,\n"
         "       " + archived + " AS archived,\n"
         "       (SELECT pg_catalog.count(*) FROM " + scanned_from + ") AS scanned";
}

Status CheckSpec(const BatchStatementSpec& spec) {
  if (spec.source.empty() || spec.expires_at.empty())
    return Status::Error(ErrorKind::kInternal, "batch statement needs a source and an expiry");
  if (spec.mode == Mode::kArchive && (spec.archive.empty() || spec.columns.empty()))
    return Status::Error(ErrorKind::kInternal, "archive mode needs an archive table and columns");
  if (spec.path == AccessPath::kPrimaryKeyWalk) {
    if (spec.key.empty())
      return Status::Error(ErrorKind::kInternal, "primary key walk needs key columns");
    for (const KeyColumn& k : spec.key)
      if (k.op_schema != spec.key.front().op_schema)
        return Status::Error(ErrorKind::kInternal,
                             "primary key columns use operators from different schemas");
  }
  return Status::Ok();
}

}  // namespace

const char* AccessPathName(AccessPath path) {
  switch (path) {
    case AccessPath::kPrimaryKeyWalk: return "primary key walk";
    case AccessPath::kIndex: return "index";
    case AccessPath::kBlockRange: return "block range walk";
  }
  return "unknown";
}

std::string BuildPurgeablePredicate(const BatchStatementSpec& spec) {
  std::string pred = "(" + spec.expires_at + ") OPERATOR(pg_catalog.<) $1";
  if (!spec.filter.empty()) pred += " AND (" + spec.filter + ")";
  return pred;
}

BatchStatement BuildBatchStatement(const BatchStatementSpec& spec, bool has_cursor) {
  BatchStatement out;
  out.status = CheckSpec(spec);
  if (!out.status.ok()) return out;

  const std::string pred = BuildPurgeablePredicate(spec);
  std::ostringstream sql;

  switch (spec.path) {
    case AccessPath::kPrimaryKeyWalk: {
      // The next $2 keys after the cursor bound the range; inside it, lock the
      // purgeable rows that nobody else holds.
      const std::string after = has_cursor ? KeyAfterCursor(spec.key) : "";
      sql << "WITH scan AS (\n"
          << "  SELECT " << KeyList(spec.key, "t") << " FROM ONLY " << spec.source << " t\n";
      if (has_cursor) sql << "  WHERE " << after << "\n";
      sql << "  ORDER BY " << KeyOrder(spec.key, "t", false) << "\n"
          << "  LIMIT $2\n"
          << "), last_key AS (\n"
          << "  SELECT " << KeyList(spec.key, "s") << " FROM scan s\n"
          << "  ORDER BY " << KeyOrder(spec.key, "s", true) << "\n"
          << "  LIMIT 1\n"
          << "), batch AS MATERIALIZED (\n"
          << "  SELECT t.ctid AS row_id FROM ONLY " << spec.source << " t\n"
          << "  WHERE " << (has_cursor ? after + " AND " : "") << KeyUpToLast(spec.key) << "\n"
          << "    AND " << pred << "\n"
          << "  FOR UPDATE OF t SKIP LOCKED\n"
          << "), " << MoveClauses(spec)
          << CountsSelect(spec, "scan");
      for (std::size_t i = 0; i < spec.key.size(); ++i)
        sql << ",\n       (SELECT l." << spec.key[i].name << " FROM last_key l) AS cursor_"
            << (i + 1);
      sql << "\n";
      out.cursor_params = has_cursor ? static_cast<int>(spec.key.size()) : 0;
      out.cursor_columns = static_cast<int>(spec.key.size());
      break;
    }
    case AccessPath::kIndex: {
      // Walk the expiry index upwards from the cursor so that no batch rescans
      // the index entries of rows earlier batches removed.
      const std::string expiry = "(" + spec.expires_at + ")";
      sql << "WITH batch AS MATERIALIZED (\n"
          << "  SELECT t.ctid AS row_id, " << expiry << " AS expiry FROM ONLY " << spec.source
          << " t\n"
          << "  WHERE " << pred << "\n";
      if (has_cursor) sql << "    AND " << expiry << " OPERATOR(pg_catalog.>=) $3\n";
      sql << "  ORDER BY " << expiry << " USING OPERATOR(pg_catalog.<)\n"
          << "  LIMIT $2\n"
          << "  FOR UPDATE OF t SKIP LOCKED\n"
          << "), " << MoveClauses(spec)
          << CountsSelect(spec, "batch") << ",\n"
          << "       (SELECT pg_catalog.max(b.expiry) FROM batch b) AS cursor_1\n";
      out.cursor_params = has_cursor ? 1 : 0;
      out.cursor_columns = 1;
      break;
    }
    case AccessPath::kBlockRange: {
      // A physical range of blocks, [$3, $4) as tids; ctids are read and used
      // inside this one statement only.
      sql << "WITH batch AS MATERIALIZED (\n"
          << "  SELECT t.ctid AS row_id FROM ONLY " << spec.source << " t\n"
          << "  WHERE t.ctid OPERATOR(pg_catalog.>=) $3 AND t.ctid OPERATOR(pg_catalog.<) $4\n"
          << "    AND " << pred << "\n"
          << "  LIMIT $2\n"
          << "  FOR UPDATE OF t SKIP LOCKED\n"
          << "), " << MoveClauses(spec)
          << CountsSelect(spec, "batch") << "\n";
      out.cursor_params = 2;
      out.cursor_columns = 0;
      break;
    }
  }
  out.sql = sql.str();
  return out;
}

std::string BuildPreviewStatement(const BatchStatementSpec& spec) {
  return "SELECT pg_catalog.count(*) AS purgeable_rows,\n"
         "       CAST(pg_catalog.min((" + spec.expires_at + ")) AS pg_catalog.timestamptz)"
         " AS oldest_expiry\n"
         "FROM ONLY " + spec.source + " t\n"
         "WHERE " + BuildPurgeablePredicate(spec) + "\n";
}

}  // namespace pg_retention::core
