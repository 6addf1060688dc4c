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
std::string KeyOrder(const std::vector<KeyColumn>& key, const std::string& alias, bool descending) {
  std::string out;
  for (std::size_t i = 0; i < key.size(); ++i) {
    if (i) out += ", ";
    out += alias + "." + key[i].name + " USING " + Op(key[i].op_schema, descending ? ">" : "<");
  }
  return out;
}

// "$first, $first+1, ..." for a key.
std::string ParamList(std::size_t count, int first) {
  std::string out;
  for (std::size_t i = 0; i < count; ++i) {
    if (i) out += ", ";
    out += "$" + std::to_string(first + static_cast<int>(i));
  }
  return out;
}

// "t.k OP $n" or "ROW(t.a, t.b) OP ROW($n, $n+1)": a btree-indexable bound.
std::string KeyBound(const std::vector<KeyColumn>& key, const char* op, int first_param) {
  const std::string& schema = key.front().op_schema;
  if (key.size() == 1)
    return "t." + key[0].name + " " + Op(schema, op) + " $" + std::to_string(first_param);
  return "ROW(" + KeyList(key, "t") + ") " + Op(schema, op) + " ROW(" +
         ParamList(key.size(), first_param) + ")";
}

constexpr const char* kUnlocked = "t.xmax OPERATOR(pg_catalog.=) '0'::pg_catalog.xid";
constexpr const char* kLockMarked = "t.xmax OPERATOR(pg_catalog.<>) '0'::pg_catalog.xid";

// The RETURNING list and, in archive mode, the INSERT of exactly the
// returned rows, column by column.
std::string Returning(const BatchStatementSpec& spec) {
  std::ostringstream sql;
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

// Rows of the batch that carry a lock mark (xmax set: locked now, or once)
// are locked with SKIP LOCKED first; the rest are deleted directly. The
// DELETE re-checks the predicate on the row it deletes and, through the
// xmax test evaluated on the live tuple, passes over rows somebody locked
// after the snapshot instead of waiting for them.
// not_mine_param > 0: rows whose xmax is that transaction id ($n, the
// batch's own) are left out too, see CopyFirstStatement.
std::string LockedClause(const BatchStatementSpec& spec, const std::string& where,
                         int not_mine_param = 0) {
  std::ostringstream sql;
  sql << "locked AS MATERIALIZED (\n"
      << "  SELECT t.ctid AS row_id FROM ONLY " << spec.source << " t\n"
      << "  WHERE " << where << "\n"
      << "    AND " << BuildPurgeablePredicate(spec) << " AND " << kLockMarked << "\n";
  if (not_mine_param > 0)
    sql << "    AND t.xmax OPERATOR(pg_catalog.<>) $" << not_mine_param << "\n";
  sql << "  FOR UPDATE OF t SKIP LOCKED\n"
      << ")";
  return sql.str();
}

// The DELETE of the rows above, without RETURNING.
std::string DeleteStatement(const BatchStatementSpec& spec, const std::string& where) {
  std::ostringstream sql;
  sql << "DELETE FROM ONLY " << spec.source << " t\n"
      << "  WHERE " << where << "\n"
      << "    AND " << BuildPurgeablePredicate(spec) << "\n"
      << "    AND (" << kUnlocked
      << " OR t.ctid OPERATOR(pg_catalog.=) ANY (SELECT l.row_id FROM locked l))\n";
  return sql.str();
}

// The lock scan and the DELETE as WITH clauses whose counts a SELECT reads.
std::string DeleteClauses(const BatchStatementSpec& spec, const std::string& where) {
  return LockedClause(spec, where) + ", moved AS (\n  " + DeleteStatement(spec, where) +
         Returning(spec);
}

// Archive mode, key walk: the copy-first form. The INSERT is the statement
// (its row count is the rows archived); the DELETE, a WITH clause nobody
// reads, runs after it to completion, over the same snapshot. The INSERT
// copies every visible purgeable row of the range; the DELETE removes those
// of them it may (unmarked, or locked by the clause "locked"), so the rows
// deleted are a subset of the rows copied, and the caller keeps the batch
// only when both counts are equal.
//
// A row version updated after the snapshot must never be deleted in place
// of the copied one. The DELETE re-checks its predicate on it (EvalPlanQual)
// after locking it: its xmax is then the batch's own transaction id, so
// "xmax = 0" fails, and "locked" leaves out every row whose xmax is that id
// ($xid_param), whenever PostgreSQL first evaluates it, even in that very
// re-check.
std::string CopyFirstStatement(const BatchStatementSpec& spec, const std::string& where,
                               int xid_param) {
  std::string target, select;
  for (std::size_t i = 0; i < spec.columns.size(); ++i) {
    if (i) {
      target += ", ";
      select += ", ";
    }
    target += spec.columns[i];
    select += "t." + spec.columns[i];
  }
  std::ostringstream sql;
  sql << "WITH " << LockedClause(spec, where, xid_param) << ", moved AS (\n  "
      << DeleteStatement(spec, where) << ")\n"
      << "INSERT INTO " << spec.archive << " (" << target << ")\n"
      << "SELECT " << select << " FROM ONLY " << spec.source << " t\n"
      << "  WHERE " << where << "\n"
      << "    AND " << BuildPurgeablePredicate(spec) << "\n";
  return sql.str();
}

// scanned_from empty: no candidate set, scanned is 0.
std::string CountsSelect(const BatchStatementSpec& spec, const std::string& scanned_from) {
  std::string archived = spec.mode == Mode::kArchive ? "(SELECT pg_catalog.count(*) FROM archived)"
                                                     : "0::pg_catalog.int8";
  std::string scanned = scanned_from.empty()
                            ? "0::pg_catalog.int8"
                            : "(SELECT pg_catalog.count(*) FROM " + scanned_from + ")";
  return "SELECT (SELECT pg_catalog.count(*) FROM moved) AS deleted,\n"
         "       " +
         archived +
         " AS archived,\n"
         "       " +
         scanned + " AS scanned";
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

AccessPath ChooseAccessPath(bool has_expiry_index, bool has_primary_key) {
  if (has_expiry_index) return AccessPath::kIndex;
  return has_primary_key ? AccessPath::kPrimaryKeyWalk : AccessPath::kBlockRange;
}

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
      // One key range, (lower, upper]: its bounds are parameters, so both
      // are index conditions and the DELETE reads just the range.
      const int nkey = static_cast<int>(spec.key.size());
      std::string where;
      int next_param = 3;
      if (has_cursor) {
        where = KeyBound(spec.key, ">", next_param);
        next_param += nkey;
      }
      if (!where.empty()) where += " AND ";
      where += KeyBound(spec.key, "<=", next_param);
      next_param += nkey;
      if (spec.mode == Mode::kDelete) {
        sql << "WITH " << LockedClause(spec, where) << "\n" << DeleteStatement(spec, where);
        out.row_count_is_deleted = true;
      } else {
        sql << "WITH " << DeleteClauses(spec, where) << CountsSelect(spec, "") << "\n";
        out.copy_first_sql = CopyFirstStatement(spec, where, next_param);
        out.copy_first_xid_param = next_param;
      }
      out.cursor_params = next_param - 3;
      out.cursor_columns = 0;
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
          << "), "
          << DeleteClauses(
                 spec, "t.ctid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT b.row_id FROM batch b))")
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
          << "), "
          << DeleteClauses(
                 spec, "t.ctid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT b.row_id FROM batch b))")
          << CountsSelect(spec, "batch") << "\n";
      out.cursor_params = 2;
      out.cursor_columns = 0;
      break;
    }
  }
  out.sql = sql.str();
  return out;
}

std::string BuildKeyBoundQuery(const BatchStatementSpec& spec, bool has_cursor) {
  const int nkey = static_cast<int>(spec.key.size());
  std::string sql = "SELECT " + KeyList(spec.key, "t") + " FROM ONLY " + spec.source + " t\n";
  if (has_cursor) sql += "WHERE " + KeyBound(spec.key, ">", 1) + "\n";
  sql += "ORDER BY " + KeyOrder(spec.key, "t", false) + "\n";
  sql += "OFFSET $" + std::to_string(has_cursor ? nkey + 1 : 1) + " LIMIT 1\n";
  return sql;
}

std::string BuildLastKeyQuery(const BatchStatementSpec& spec, bool has_cursor) {
  std::string sql = "SELECT " + KeyList(spec.key, "t") + " FROM ONLY " + spec.source + " t\n";
  if (has_cursor) sql += "WHERE " + KeyBound(spec.key, ">", 1) + "\n";
  sql += "ORDER BY " + KeyOrder(spec.key, "t", true) + "\n";
  sql += "LIMIT 1\n";
  return sql;
}

std::string BuildPreviewStatement(const BatchStatementSpec& spec) {
  return "SELECT pg_catalog.count(*) AS purgeable_rows,\n"
         "       CAST(pg_catalog.min((" +
         spec.expires_at +
         ")) AS pg_catalog.timestamptz)"
         " AS oldest_expiry\n"
         "FROM ONLY " +
         spec.source +
         " t\n"
         "WHERE " +
         BuildPurgeablePredicate(spec) + "\n";
}

}  // namespace pg_retention::core
