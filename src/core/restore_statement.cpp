// restore_statement.cpp: the statements of retention.restore() (see the
// header for their parameters and results).
#include "core/restore_statement.hpp"

#include <sstream>

namespace pg_retention::core {

namespace {

// "a.k1 OPERATOR(s.=) b.k1 AND ..." over the key columns.
std::string KeyEquals(const std::vector<KeyColumn>& key, const std::string& left,
                      const std::string& right) {
  std::string out;
  for (std::size_t i = 0; i < key.size(); ++i) {
    if (i) out += " AND ";
    out += left + "." + key[i].name + " OPERATOR(" + key[i].op_schema + ".=) " + right + "." +
           key[i].name;
  }
  return out;
}

// "ONLY " for a plain archive; a partitioned one is read with its partitions.
std::string ArchiveFrom(const RestoreStatementSpec& spec) {
  return (spec.archive_partitioned ? "" : "ONLY ") + spec.archive;
}

// The row's key is in the source now.
std::string InSource(const RestoreStatementSpec& spec) {
  return "EXISTS (SELECT FROM ONLY " + spec.source + " s WHERE " + KeyEquals(spec.key, "s", "a") +
         ")";
}

// A later version of the row's key is in the archive.
std::string Superseded(const RestoreStatementSpec& spec) {
  std::string later = spec.archive_has_archived_at
                          ? "ROW(b.archived_at, b.ctid) OPERATOR(pg_catalog.>) "
                            "ROW(a.archived_at, a.ctid)"
                          : "b.ctid OPERATOR(pg_catalog.>) a.ctid";
  return "EXISTS (SELECT FROM " + ArchiveFrom(spec) + " b WHERE " + KeyEquals(spec.key, "b", "a") +
         " AND " + later + ")";
}

std::string Where(const RestoreStatementSpec& spec) {
  return spec.filter.empty() ? "true" : "(" + spec.filter + ")";
}

Status CheckSpec(const RestoreStatementSpec& spec) {
  if (spec.source.empty() || spec.archive.empty() || spec.columns.empty())
    return Status::Error(ErrorKind::kInternal, "restore needs a source, an archive and columns");
  return Status::Ok();
}

}  // namespace

RestoreStatement BuildRestoreBatch(const RestoreStatementSpec& spec) {
  RestoreStatement out;
  out.status = CheckSpec(spec);
  if (!out.status.ok()) return out;
  std::string returning, target, select;
  for (std::size_t i = 0; i < spec.columns.size(); ++i) {
    if (i) {
      returning += ", ";
      target += ", ";
      select += ", ";
    }
    returning += "a." + spec.columns[i];
    target += spec.columns[i];
    select += "m." + spec.columns[i];
  }
  std::ostringstream sql;
  sql << "WITH picked AS MATERIALIZED (\n"
      << "  SELECT a.ctid AS row_id" << (spec.archive_partitioned ? ", a.tableoid AS rel" : "")
      << " FROM " << ArchiveFrom(spec) << " a\n"
      << "  WHERE " << Where(spec) << "\n";
  if (!spec.key.empty())
    sql << "    AND NOT " << InSource(spec) << "\n"
        << "    AND NOT " << Superseded(spec) << "\n";
  sql << "  LIMIT $1\n"
      << "  FOR UPDATE OF a SKIP LOCKED\n"
      << "), moved AS (\n"
      << "  DELETE FROM " << ArchiveFrom(spec) << " a\n"
      << "  WHERE a.ctid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT p.row_id FROM picked p))\n";
  // A ctid names a row within one partition only.
  if (spec.archive_partitioned)
    sql << "    AND ROW(a.tableoid, a.ctid) OPERATOR(pg_catalog.=)\n"
        << "        ANY (ARRAY(SELECT ROW(p.rel, p.row_id) FROM picked p))\n";
  sql << "  RETURNING " << returning << "\n"
      << "), restored AS (\n"
      << "  INSERT INTO " << spec.source << " (" << target << ") OVERRIDING SYSTEM VALUE\n"
      << "  SELECT " << select << " FROM moved m\n"
      << "  RETURNING 1 AS one\n"
      << ")\n"
      << "SELECT (SELECT pg_catalog.count(*) FROM moved) AS removed,\n"
      << "       (SELECT pg_catalog.count(*) FROM restored) AS restored\n";
  out.sql = sql.str();
  return out;
}

RestoreStatement BuildRestoreCount(const RestoreStatementSpec& spec) {
  RestoreStatement out;
  out.status = CheckSpec(spec);
  if (!out.status.ok()) return out;
  std::ostringstream sql;
  if (spec.key.empty()) {
    sql << "SELECT pg_catalog.count(*) AS restorable, 0::pg_catalog.int8 AS kept\n"
        << "FROM " << ArchiveFrom(spec) << " a\n"
        << "WHERE " << Where(spec) << "\n";
  } else {
    sql << "SELECT pg_catalog.count(*) FILTER (WHERE NOT x.kept) AS restorable,\n"
        << "       pg_catalog.count(*) FILTER (WHERE x.kept) AS kept\n"
        << "FROM (SELECT " << InSource(spec) << " OR " << Superseded(spec) << " AS kept\n"
        << "        FROM " << ArchiveFrom(spec) << " a\n"
        << "       WHERE " << Where(spec) << ") x\n";
  }
  out.sql = sql.str();
  return out;
}

}  // namespace pg_retention::core
