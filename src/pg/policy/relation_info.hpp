// relation_info.hpp: what the engine needs to know about a policy's source
// table: whether it may carry a policy at all, its quoted name and columns,
// its primary key and the btree operators to walk it, an index whose leading
// key is the expiry expression, and the foreign keys that point at it.
#pragma once

#include <cstdint>

#include "pg/module/pg_fwd.hpp"

#include "pg/policy/expression.hpp"

namespace pg_retention::pg {

struct KeyColumnInfo {
  char* name;       // quoted
  char* op_schema;  // quoted schema of its btree operators
  Oid type_oid;
};

struct SourceInfo {
  Oid relid;
  char* qualified;      // "schema"."table"
  char* schema_name;    // unquoted
  char* table_name;     // unquoted
  int ncolumns;         // live user columns in attnum order
  char** column_names;  // unquoted
  char** column_quoted;
  Oid* column_types;
  int* column_typmods;
  int nkeys;  // primary key columns usable for a keyset walk, 0 if none
  KeyColumnInfo* keys;
  char* pk_index_name;  // unquoted, nullptr without a primary key
  char* expiry_index;   // unquoted name of a matching index, nullptr if none
  double reltuples;
  int64_t relpages;
};

// Refuses tables a policy cannot run on (views, partitioned, temporary,
// catalogs) and callers who do not own the table.
void CheckPolicySourceTable(Oid relid);

// The default name of a policy of relid: its quoted qualified name.
char* DefaultPolicyName(Oid relid);

// Refuses a run while the policy's owner no longer owns the table (and is
// not a member of the owning role or a superuser), or no longer exists.
void CheckPolicyOwnerOwnsTable(const char* policy_name, Oid policy_owner, Oid relid);

// Describes the source table; expires may be nullptr (no index matching).
SourceInfo* DescribeSource(Oid relid, const AnalyzedExpression* expires);

// ON DELETE CASCADE / SET NULL / SET DEFAULT foreign keys referencing relid:
// an error in archive mode (child rows would change unarchived), a NOTICE in
// delete mode.
void CheckReferencingForeignKeys(Oid relid, bool archive_mode);

// The access path name preview reports and the engine uses.
const char* DescribeAccessPath(const SourceInfo* info);

}  // namespace pg_retention::pg
