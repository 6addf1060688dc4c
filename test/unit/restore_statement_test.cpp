// Unit tests for the statements of retention.restore()
// (src/core/restore_statement): one statement per batch that deletes from
// the archive exactly the rows it inserts into the table, SKIP LOCKED, only
// the latest version of a key and only keys not in the table, operators
// written with their schema.
#include "core/restore_statement.hpp"

#include <gtest/gtest.h>

using namespace pg_retention::core;

namespace {

RestoreStatementSpec TokensSpec() {
  RestoreStatementSpec spec;
  spec.source = "\"public\".\"tokens\"";
  spec.archive = "\"retention_archive\".\"tokens\"";
  spec.columns = {"\"id\"", "\"revoked_at\""};
  spec.key = {{"\"id\"", "pg_catalog"}};
  return spec;
}

bool Has(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST(RestoreStatement, MovesExactlyTheLockedRows) {
  RestoreStatement st = BuildRestoreBatch(TokensSpec());
  ASSERT_TRUE(st.status.ok());
  EXPECT_TRUE(Has(st.sql, "LIMIT $1\n  FOR UPDATE OF a SKIP LOCKED"));
  EXPECT_TRUE(Has(st.sql, "DELETE FROM ONLY \"retention_archive\".\"tokens\" a"));
  EXPECT_TRUE(Has(st.sql, "RETURNING a.\"id\", a.\"revoked_at\""));
  EXPECT_TRUE(Has(st.sql,
                  "INSERT INTO \"public\".\"tokens\" (\"id\", \"revoked_at\") "
                  "OVERRIDING SYSTEM VALUE\n  SELECT m.\"id\", m.\"revoked_at\" FROM moved m"));
  EXPECT_TRUE(Has(st.sql, "AS removed"));
  EXPECT_TRUE(Has(st.sql, "AS restored"));
}

TEST(RestoreStatement, OnlyTheLatestVersionOfAKeyNotInTheTable) {
  RestoreStatement st = BuildRestoreBatch(TokensSpec());
  EXPECT_TRUE(Has(st.sql,
                  "AND NOT EXISTS (SELECT FROM ONLY \"public\".\"tokens\" s WHERE "
                  "s.\"id\" OPERATOR(pg_catalog.=) a.\"id\")"));
  EXPECT_TRUE(Has(st.sql,
                  "ROW(b.archived_at, b.ctid) OPERATOR(pg_catalog.>) "
                  "ROW(a.archived_at, a.ctid)"));
}

TEST(RestoreStatement, KeyOperatorsCarryTheirSchema) {
  RestoreStatementSpec spec = TokensSpec();
  spec.key = {{"\"tenant\"", "\"ops\""}, {"\"id\"", "\"ops\""}};
  RestoreStatement st = BuildRestoreBatch(spec);
  EXPECT_TRUE(Has(st.sql,
                  "s.\"tenant\" OPERATOR(\"ops\".=) a.\"tenant\" AND "
                  "s.\"id\" OPERATOR(\"ops\".=) a.\"id\""));
}

TEST(RestoreStatement, WithoutArchivedAtTheNewestRowWins) {
  RestoreStatementSpec spec = TokensSpec();
  spec.archive_has_archived_at = false;
  RestoreStatement st = BuildRestoreBatch(spec);
  EXPECT_FALSE(Has(st.sql, "archived_at"));
  EXPECT_TRUE(Has(st.sql, "b.ctid OPERATOR(pg_catalog.>) a.ctid"));
}

TEST(RestoreStatement, WithoutPrimaryKeyEveryMatchingRow) {
  RestoreStatementSpec spec = TokensSpec();
  spec.key.clear();
  spec.filter = "(id OPERATOR(pg_catalog.<) 3)";
  RestoreStatement st = BuildRestoreBatch(spec);
  EXPECT_FALSE(Has(st.sql, "EXISTS"));
  EXPECT_TRUE(Has(st.sql, "WHERE ((id OPERATOR(pg_catalog.<) 3))"));
  RestoreStatement count = BuildRestoreCount(spec);
  EXPECT_TRUE(Has(count.sql, "0::pg_catalog.int8 AS kept"));
}

TEST(RestoreStatement, CountSplitsRestorableAndKept) {
  RestoreStatement st = BuildRestoreCount(TokensSpec());
  ASSERT_TRUE(st.status.ok());
  EXPECT_TRUE(Has(st.sql, "FILTER (WHERE NOT x.kept) AS restorable"));
  EXPECT_TRUE(Has(st.sql, "FILTER (WHERE x.kept) AS kept"));
}

TEST(RestoreStatement, RefusesAnIncompleteSpec) {
  RestoreStatementSpec spec = TokensSpec();
  spec.columns.clear();
  EXPECT_FALSE(BuildRestoreBatch(spec).status.ok());
  EXPECT_FALSE(BuildRestoreCount(spec).status.ok());
}

TEST(RestoreStatement, PartitionedArchiveIsReadWithItsPartitions) {
  RestoreStatementSpec spec = TokensSpec();
  spec.archive_partitioned = true;
  RestoreStatement st = BuildRestoreBatch(spec);
  ASSERT_TRUE(st.status.ok());
  EXPECT_FALSE(Has(st.sql, "ONLY \"retention_archive\""));
  EXPECT_TRUE(Has(st.sql, "DELETE FROM \"retention_archive\".\"tokens\" a"));
  EXPECT_TRUE(Has(st.sql, "a.tableoid AS rel"));
  EXPECT_TRUE(Has(st.sql, "ROW(a.tableoid, a.ctid) OPERATOR(pg_catalog.=)"));
  RestoreStatement count = BuildRestoreCount(spec);
  ASSERT_TRUE(count.status.ok());
  EXPECT_FALSE(Has(count.sql, "ONLY \"retention_archive\""));
  // The source is still read alone.
  EXPECT_TRUE(Has(st.sql, "FROM ONLY \"public\".\"tokens\" s"));
}
