// Unit tests for the batch and preview statements (src/core/statement_builder).
// They pin the properties the engine's safety rests on: one statement per
// batch, SKIP LOCKED, the predicate re-checked by the DELETE, by-name column
// mapping in archive mode, and a cursor so no batch rescans from the start.
#include "core/statement_builder.hpp"

#include <gtest/gtest.h>

using namespace pg_retention::core;

namespace {

BatchStatementSpec TokensSpec() {
  BatchStatementSpec spec;
  spec.source = "\"public\".\"oauth_access_tokens\"";
  spec.expires_at = "revoked_at";
  spec.key = {{"\"id\"", "pg_catalog"}};
  return spec;
}

std::size_t Count(const std::string& haystack, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t pos = haystack.find(needle); pos != std::string::npos;
       pos = haystack.find(needle, pos + needle.size()))
    ++n;
  return n;
}

}  // namespace

TEST(StatementBuilder, PredicateUsesCutoffAndFilter) {
  BatchStatementSpec spec = TokensSpec();
  EXPECT_EQ(BuildPurgeablePredicate(spec), "(revoked_at) OPERATOR(pg_catalog.<) $1");
  spec.filter = "(scopes = 'api'::text)";
  EXPECT_EQ(BuildPurgeablePredicate(spec),
            "(revoked_at) OPERATOR(pg_catalog.<) $1 AND ((scopes = 'api'::text))");
}

TEST(StatementBuilder, PrimaryKeyWalkFirstRangeHasOnlyAnUpperBound) {
  BatchStatement st = BuildBatchStatement(TokensSpec(), false);
  ASSERT_TRUE(st.status.ok());
  EXPECT_EQ(st.cursor_params, 1);
  EXPECT_EQ(st.cursor_columns, 0);
  EXPECT_NE(st.sql.find("t.\"id\" OPERATOR(pg_catalog.<=) $3"), std::string::npos);
  EXPECT_EQ(st.sql.find("OPERATOR(pg_catalog.>) $"), std::string::npos);
  EXPECT_EQ(st.sql.find("$4"), std::string::npos);
}

TEST(StatementBuilder, PrimaryKeyWalkRangeIsBoundedOnBothSides) {
  BatchStatement st = BuildBatchStatement(TokensSpec(), true);
  ASSERT_TRUE(st.status.ok());
  EXPECT_EQ(st.cursor_params, 2);
  // The locking scan and the DELETE both read exactly (lower, upper].
  EXPECT_EQ(Count(st.sql, "t.\"id\" OPERATOR(pg_catalog.>) $3 AND t.\"id\" OPERATOR(pg_catalog.<=) $4"),
            2u);
}

// In delete mode the key range walk is a plain DELETE: no RETURNING, no
// result row to build (RETURNING into a CTE costs about a third of the
// purge); the rows deleted are the statement's row count.
TEST(StatementBuilder, PrimaryKeyWalkDeleteIsAPlainDelete) {
  BatchStatement st = BuildBatchStatement(TokensSpec(), true);
  ASSERT_TRUE(st.status.ok());
  EXPECT_TRUE(st.row_count_is_deleted);
  EXPECT_EQ(st.sql.find("RETURNING"), std::string::npos);
  EXPECT_EQ(st.sql.find("SELECT (SELECT pg_catalog.count(*)"), std::string::npos);
  EXPECT_EQ(st.sql.rfind("DELETE FROM ONLY \"public\".\"oauth_access_tokens\" t", 0),
            std::string::npos);  // the lock scan comes first, as a WITH clause
  EXPECT_EQ(st.sql.rfind("WITH locked AS MATERIALIZED (", 0), 0u);
  EXPECT_NE(st.sql.find(")\nDELETE FROM ONLY \"public\".\"oauth_access_tokens\" t"),
            std::string::npos);
}

// Archive mode and the other walks still return the counts as a row.
TEST(StatementBuilder, OtherStatementsReturnCounts) {
  BatchStatementSpec archive = TokensSpec();
  archive.mode = Mode::kArchive;
  archive.archive = "\"retention_archive\".\"oauth_access_tokens\"";
  archive.columns = {"\"id\"", "\"revoked_at\""};
  BatchStatementSpec index = TokensSpec();
  index.path = AccessPath::kIndex;
  BatchStatementSpec blocks = TokensSpec();
  blocks.path = AccessPath::kBlockRange;
  for (const BatchStatementSpec& spec : {archive, index, blocks}) {
    BatchStatement st = BuildBatchStatement(spec, true);
    ASSERT_TRUE(st.status.ok());
    EXPECT_FALSE(st.row_count_is_deleted);
    EXPECT_NE(st.sql.find("SELECT (SELECT pg_catalog.count(*) FROM moved) AS deleted"),
              std::string::npos);
  }
}

TEST(StatementBuilder, LastKeyQueryClosesTheLastRange) {
  std::string first = BuildLastKeyQuery(TokensSpec(), false);
  EXPECT_NE(first.find("ORDER BY t.\"id\" USING OPERATOR(pg_catalog.>)"), std::string::npos);
  EXPECT_NE(first.find("LIMIT 1"), std::string::npos);
  EXPECT_EQ(first.find("$"), std::string::npos);
  std::string next = BuildLastKeyQuery(TokensSpec(), true);
  EXPECT_NE(next.find("WHERE t.\"id\" OPERATOR(pg_catalog.>) $1"), std::string::npos);
}

TEST(StatementBuilder, KeyBoundQueryFindsTheEndOfTheNextRange) {
  std::string first = BuildKeyBoundQuery(TokensSpec(), false);
  EXPECT_NE(first.find("ORDER BY t.\"id\" USING OPERATOR(pg_catalog.<)"), std::string::npos);
  EXPECT_NE(first.find("OFFSET $1 LIMIT 1"), std::string::npos);
  std::string next = BuildKeyBoundQuery(TokensSpec(), true);
  EXPECT_NE(next.find("WHERE t.\"id\" OPERATOR(pg_catalog.>) $1"), std::string::npos);
  EXPECT_NE(next.find("OFFSET $2 LIMIT 1"), std::string::npos);
}

TEST(StatementBuilder, LocksWithSkipLockedAndRechecksOnDelete) {
  BatchStatement st = BuildBatchStatement(TokensSpec(), true);
  ASSERT_TRUE(st.status.ok());
  EXPECT_NE(st.sql.find("FOR UPDATE OF t SKIP LOCKED"), std::string::npos);
  // The predicate appears in the locking scan AND on the DELETE itself.
  EXPECT_EQ(Count(st.sql, "(revoked_at) OPERATOR(pg_catalog.<) $1"), 2u);
  std::size_t del = st.sql.find("DELETE FROM ONLY");
  ASSERT_NE(del, std::string::npos);
  EXPECT_NE(st.sql.find("(revoked_at) OPERATOR(pg_catalog.<) $1", del), std::string::npos);
  // The locked rows are materialized so the planner cannot re-run the lock.
  EXPECT_NE(st.sql.find("locked AS MATERIALIZED"), std::string::npos);
}

TEST(StatementBuilder, UnmarkedRowsAreDeletedWithoutARowLock) {
  BatchStatement st = BuildBatchStatement(TokensSpec(), true);
  ASSERT_TRUE(st.status.ok());
  // Only rows with a lock mark are locked first ...
  std::size_t locked = st.sql.find("locked AS MATERIALIZED");
  std::size_t del = st.sql.find("DELETE FROM ONLY");
  ASSERT_NE(locked, std::string::npos);
  EXPECT_LT(st.sql.find("t.xmax OPERATOR(pg_catalog.<>) '0'::pg_catalog.xid", locked), del);
  // ... the DELETE takes unmarked rows directly, or the ones it locked.
  EXPECT_NE(st.sql.find("(t.xmax OPERATOR(pg_catalog.=) '0'::pg_catalog.xid OR t.ctid "
                        "OPERATOR(pg_catalog.=) ANY (SELECT l.row_id FROM locked l))",
                        del),
            std::string::npos);
}

TEST(StatementBuilder, IndexAndBlockPathsCapTheBatch) {
  BatchStatementSpec spec = TokensSpec();
  spec.path = AccessPath::kIndex;
  BatchStatement ix = BuildBatchStatement(spec, true);
  EXPECT_NE(ix.sql.find("LIMIT $2"), std::string::npos);
  EXPECT_NE(ix.sql.find("ANY (ARRAY(SELECT b.row_id FROM batch b))"), std::string::npos);
  spec.key.clear();
  spec.path = AccessPath::kBlockRange;
  BatchStatement bl = BuildBatchStatement(spec, true);
  EXPECT_NE(bl.sql.find("LIMIT $2"), std::string::npos);
  EXPECT_NE(bl.sql.find("ANY (ARRAY(SELECT b.row_id FROM batch b))"), std::string::npos);
}

TEST(StatementBuilder, CompositeKeyUsesRowComparison) {
  BatchStatementSpec spec = TokensSpec();
  spec.key = {{"\"tenant\"", "pg_catalog"}, {"\"id\"", "pg_catalog"}};
  BatchStatement st = BuildBatchStatement(spec, true);
  ASSERT_TRUE(st.status.ok());
  EXPECT_EQ(st.cursor_params, 4);
  EXPECT_NE(st.sql.find("ROW(t.\"tenant\", t.\"id\") OPERATOR(pg_catalog.>) ROW($3, $4)"),
            std::string::npos);
  EXPECT_NE(st.sql.find("ROW(t.\"tenant\", t.\"id\") OPERATOR(pg_catalog.<=) ROW($5, $6)"),
            std::string::npos);
  std::string bound = BuildKeyBoundQuery(spec, true);
  EXPECT_NE(bound.find("ROW(t.\"tenant\", t.\"id\") OPERATOR(pg_catalog.>) ROW($1, $2)"),
            std::string::npos);
  EXPECT_NE(bound.find("OFFSET $3 LIMIT 1"), std::string::npos);
}

TEST(StatementBuilder, MixedOperatorSchemasAreRefused) {
  BatchStatementSpec spec = TokensSpec();
  spec.key = {{"\"a\"", "pg_catalog"}, {"\"b\"", "\"public\""}};
  EXPECT_FALSE(BuildBatchStatement(spec, false).status.ok());
}

TEST(StatementBuilder, ArchiveMovesColumnsByName) {
  BatchStatementSpec spec = TokensSpec();
  spec.mode = Mode::kArchive;
  spec.archive = "\"retention_archive\".\"oauth_access_tokens\"";
  spec.columns = {"\"id\"", "\"token\"", "\"revoked_at\""};
  BatchStatement st = BuildBatchStatement(spec, false);
  ASSERT_TRUE(st.status.ok());
  EXPECT_NE(st.sql.find("RETURNING t.\"id\", t.\"token\", t.\"revoked_at\""), std::string::npos);
  EXPECT_NE(st.sql.find("INSERT INTO \"retention_archive\".\"oauth_access_tokens\" "
                        "(\"id\", \"token\", \"revoked_at\")"),
            std::string::npos);
  EXPECT_NE(st.sql.find("SELECT m.\"id\", m.\"token\", m.\"revoked_at\" FROM moved m"),
            std::string::npos);
  EXPECT_NE(st.sql.find("(SELECT pg_catalog.count(*) FROM archived) AS archived"),
            std::string::npos);
  // Never ON CONFLICT: a conflict must fail the batch, not drop the row.
  EXPECT_EQ(st.sql.find("ON CONFLICT"), std::string::npos);
}

// The copy-first form of an archive batch (key walk): the INSERT is the
// statement, copying every visible purgeable row of the range; the DELETE
// is a WITH clause nobody reads, so PostgreSQL runs it after the INSERT.
TEST(StatementBuilder, ArchiveKeyWalkHasACopyFirstForm) {
  BatchStatementSpec spec = TokensSpec();
  spec.mode = Mode::kArchive;
  spec.archive = "\"retention_archive\".\"oauth_access_tokens\"";
  spec.columns = {"\"id\"", "\"token\"", "\"revoked_at\""};
  for (bool has_cursor : {false, true}) {
    BatchStatement st = BuildBatchStatement(spec, has_cursor);
    ASSERT_TRUE(st.status.ok());
    const std::string& sql = st.copy_first_sql;
    ASSERT_FALSE(sql.empty());
    EXPECT_EQ(sql.rfind("WITH locked AS MATERIALIZED (", 0), 0u);
    const auto del = sql.find("), moved AS (\n  DELETE FROM ONLY \"public\".\"oauth_access_tokens\" t");
    const auto ins = sql.find(")\nINSERT INTO \"retention_archive\".\"oauth_access_tokens\" "
                              "(\"id\", \"token\", \"revoked_at\")\n"
                              "SELECT t.\"id\", t.\"token\", t.\"revoked_at\" "
                              "FROM ONLY \"public\".\"oauth_access_tokens\" t\n");
    ASSERT_NE(del, std::string::npos);
    ASSERT_NE(ins, std::string::npos);
    EXPECT_LT(del, ins);
    // Nobody reads the DELETE: no RETURNING, no count of it.
    EXPECT_EQ(sql.find("RETURNING"), std::string::npos);
    EXPECT_EQ(sql.find("FROM moved"), std::string::npos);
    // The INSERT copies the whole range's purgeable rows, lock marks or not;
    // the DELETE keeps the lock test.
    const std::string insert = sql.substr(ins);
    EXPECT_NE(insert.find("(revoked_at) OPERATOR(pg_catalog.<) $1"), std::string::npos);
    EXPECT_EQ(insert.find("xmax"), std::string::npos);
    EXPECT_EQ(insert.find("locked"), std::string::npos);
    EXPECT_NE(sql.substr(del, ins - del).find("t.xmax OPERATOR(pg_catalog.=) '0'::pg_catalog.xid"),
              std::string::npos);
    // The same range, so the same parameters as the statement it stands for,
    // and one more: the batch's transaction id, whose locks "locked" leaves
    // out.
    EXPECT_NE(insert.find("$3"), std::string::npos);
    EXPECT_EQ(insert.find("$4") != std::string::npos, has_cursor);
    const int xid = has_cursor ? 5 : 4;
    EXPECT_EQ(st.copy_first_xid_param, xid);
    EXPECT_NE(sql.substr(0, del).find("AND t.xmax OPERATOR(pg_catalog.<>) $" + std::to_string(xid) +
                                      "\n  FOR UPDATE OF t SKIP LOCKED"),
              std::string::npos);
    EXPECT_EQ(st.sql.find("$" + std::to_string(xid)), std::string::npos);
    EXPECT_EQ(sql.find("ON CONFLICT"), std::string::npos);
  }
}

// Delete mode and the other walks have none.
TEST(StatementBuilder, OnlyArchiveKeyWalkHasACopyFirstForm) {
  BatchStatementSpec index = TokensSpec();
  index.mode = Mode::kArchive;
  index.archive = "\"retention_archive\".\"oauth_access_tokens\"";
  index.columns = {"\"id\""};
  index.path = AccessPath::kIndex;
  BatchStatementSpec blocks = index;
  blocks.path = AccessPath::kBlockRange;
  for (const BatchStatementSpec& spec : {TokensSpec(), index, blocks})
    EXPECT_TRUE(BuildBatchStatement(spec, true).copy_first_sql.empty());
}

TEST(StatementBuilder, ArchiveNeedsTable) {
  BatchStatementSpec spec = TokensSpec();
  spec.mode = Mode::kArchive;
  EXPECT_FALSE(BuildBatchStatement(spec, false).status.ok());
}

TEST(StatementBuilder, DeleteModeReportsZeroArchived) {
  BatchStatementSpec spec = TokensSpec();
  spec.path = AccessPath::kIndex;  // a walk that returns a count row
  BatchStatement st = BuildBatchStatement(spec, false);
  EXPECT_NE(st.sql.find("0::pg_catalog.int8 AS archived"), std::string::npos);
  EXPECT_EQ(st.sql.find("INSERT"), std::string::npos);
}

TEST(StatementBuilder, IndexPathWalksUpFromCursor) {
  BatchStatementSpec spec = TokensSpec();
  spec.path = AccessPath::kIndex;
  BatchStatement first = BuildBatchStatement(spec, false);
  ASSERT_TRUE(first.status.ok());
  EXPECT_EQ(first.cursor_params, 0);
  EXPECT_EQ(first.sql.find("$3"), std::string::npos);
  BatchStatement next = BuildBatchStatement(spec, true);
  EXPECT_EQ(next.cursor_params, 1);
  EXPECT_NE(next.sql.find("(revoked_at) OPERATOR(pg_catalog.>=) $3"), std::string::npos);
  EXPECT_NE(next.sql.find("ORDER BY (revoked_at) USING OPERATOR(pg_catalog.<)"),
            std::string::npos);
  EXPECT_NE(next.sql.find("pg_catalog.max(b.expiry)"), std::string::npos);
}

TEST(StatementBuilder, BlockRangeUsesTidRange) {
  BatchStatementSpec spec = TokensSpec();
  spec.key.clear();
  spec.path = AccessPath::kBlockRange;
  BatchStatement st = BuildBatchStatement(spec, true);
  ASSERT_TRUE(st.status.ok());
  EXPECT_EQ(st.cursor_params, 2);
  EXPECT_EQ(st.cursor_columns, 0);
  EXPECT_NE(st.sql.find("t.ctid OPERATOR(pg_catalog.>=) $3 AND t.ctid OPERATOR(pg_catalog.<) $4"),
            std::string::npos);
}

TEST(StatementBuilder, PreviewCountsWithSamePredicate) {
  BatchStatementSpec spec = TokensSpec();
  spec.filter = "(scopes = 'api'::text)";
  std::string sql = BuildPreviewStatement(spec);
  EXPECT_NE(sql.find(BuildPurgeablePredicate(spec)), std::string::npos);
  EXPECT_NE(sql.find("pg_catalog.count(*) AS purgeable_rows"), std::string::npos);
  EXPECT_NE(sql.find("FROM ONLY \"public\".\"oauth_access_tokens\" t"), std::string::npos);
}

TEST(StatementBuilder, PathNames) {
  EXPECT_STREQ(AccessPathName(AccessPath::kPrimaryKeyWalk), "primary key walk");
  EXPECT_STREQ(AccessPathName(AccessPath::kBlockRange), "block range walk");
}

TEST(StatementBuilder, AccessPathChoice) {
  EXPECT_EQ(ChooseAccessPath(true, true), AccessPath::kIndex);
  EXPECT_EQ(ChooseAccessPath(true, false), AccessPath::kIndex);
  EXPECT_EQ(ChooseAccessPath(false, true), AccessPath::kPrimaryKeyWalk);
  EXPECT_EQ(ChooseAccessPath(false, false), AccessPath::kBlockRange);
}
