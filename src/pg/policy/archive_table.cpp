// archive_table.cpp: see archive_table.hpp.
#include "pg/policy/archive_table.hpp"

#include <set>
#include <string>

#include "core/archive_naming.hpp"
#include "pg/module/guard.hpp"
#include "pg/module/session.hpp"

extern "C" {
#include "postgres.h"

#include "access/genam.h"
#include "access/relation.h"
#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "parser/parse_coerce.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "pg/pg_compat.h"
}

namespace pg_retention::pg {

namespace {

constexpr const char* kArchiveSchema = "retention_archive";

void ExecDdl(const char* sql) {
  int rc = SPI_execute(sql, false, 0);
  if (rc < 0) elog(ERROR, "could not run \"%s\": %s", sql, SPI_result_code_string(rc));
}

// Names already used in retention_archive, as a NULL-terminated array.
char** ExistingArchiveNames(int* count) {
  int rc = SPI_execute(
      "SELECT c.relname::text FROM pg_catalog.pg_class c"
      " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
      " WHERE n.nspname = 'retention_archive'",
      false, 0);
  if (rc != SPI_OK_SELECT) elog(ERROR, "could not list archive tables");
  int n = static_cast<int>(SPI_processed);
  char** names = static_cast<char**>(palloc0(sizeof(char*) * (n + 1)));
  for (int i = 0; i < n; ++i)
    names[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
  *count = n;
  return names;
}

// Creates schema retention_archive, or checks that the one there is the
// extension owner's (whoever owns the schema can drop the tables in it).
void EnsureArchiveSchema() {
  Oid schema = get_namespace_oid(kArchiveSchema, true);
  if (!OidIsValid(schema)) {
    ExecDdl("CREATE SCHEMA retention_archive");
    ExecDdl("GRANT USAGE ON SCHEMA retention_archive TO PUBLIC");
  } else {
    // Whoever owns the schema can drop the tables in it: it must be ours.
    HeapTuple tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(schema));
    Oid schema_owner = ((Form_pg_namespace) GETSTRUCT(tup))->nspowner;
    ReleaseSysCache(tup);
    if (schema_owner != ExtensionOwner() && !superuser_arg(schema_owner))
      ereport(ERROR,
              (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
               errmsg("schema \"retention_archive\" is owned by role \"%s\", not by the owner of "
                      "extension pg_retention",
                      GetUserNameFromId(schema_owner, false)),
               errdetail("Its owner could drop archived rows."),
               errhint("Drop or rename that schema, or pass an archive_table of your own.")));
  }
}

// A free name in retention_archive for the source's archive (core).
char* ChooseArchiveName(const SourceInfo* source) {
  int ntaken;
  char** taken = ExistingArchiveNames(&ntaken);
  const char* schema_name = source->schema_name;
  const char* table_name = source->table_name;
  CoreError err;
  char* chosen_malloc = nullptr;
  if (!CallCore(
          &err,
          [](const char* schema, const char* table, char** names, int nnames, char** out) {
            std::set<std::string> used(names, names + nnames);
            std::string name = core::ChooseArchiveTableName(
                schema, table, [&](const std::string& n) { return used.count(n) > 0; });
            *out = CoreStrdup(name);
            return *out ? core::Status::Ok()
                        : core::Status::Error(core::ErrorKind::kInternal, "out of memory");
          },
          schema_name, table_name, taken, ntaken, &chosen_malloc))
    RaiseCoreError(&err);
  return TakeCoreString(chosen_malloc);
}

// A unique index on the source's primary key: a row archived twice fails its
// batch instead of hiding a duplicate.
// One row per version of a key: a unique index on the source's primary key
// plus archived_at. A key that comes back into the source and expires again
// is archived beside its earlier version (each batch is its own transaction,
// so their archived_at differ), while a row written twice by one batch still
// fails it. The same index serves restore's lookups by key.
void AddPrimaryKeyIndex(const SourceInfo* source, const char* archive) {
  Relation src = relation_open(source->relid, AccessShareLock);
  Oid pk = RelationGetPrimaryKeyIndexCompat(src);
  Relation idx = index_open(pk, AccessShareLock);
  StringInfoData cols;
  initStringInfo(&cols);
  for (int i = 0; i < IndexRelationGetNumberOfKeyAttributes(idx); ++i) {
    AttrNumber attnum = idx->rd_index->indkey.values[i];
    if (i) appendStringInfoString(&cols, ", ");
    appendStringInfoString(&cols, quote_identifier(get_attname(source->relid, attnum, false)));
  }
  index_close(idx, AccessShareLock);
  relation_close(src, AccessShareLock);
  ExecDdl(psprintf("CREATE UNIQUE INDEX ON %s (%s, archived_at)", archive, cols.data));
}

}  // namespace

Oid CreateDefaultArchiveTable(const SourceInfo* source, Oid owner) {
  for (int i = 0; i < source->ncolumns; ++i)
    if (strcmp(source->column_names[i], "archived_at") == 0)
      ereport(ERROR, (errcode(ERRCODE_DUPLICATE_COLUMN),
                      errmsg("cannot create an archive table for \"%s\": it already has a column "
                             "named \"archived_at\"",
                             source->table_name),
                      errhint("Create an archive table yourself and pass it as archive_table.")));

  CatalogWork work;  // DDL as the extension's owner; no user code runs
  BeginCatalogWork(&work);

  EnsureArchiveSchema();

  char* chosen = ChooseArchiveName(source);
  char* archive = quote_qualified_identifier(kArchiveSchema, chosen);

  ExecDdl(psprintf("CREATE TABLE %s (LIKE %s)", archive, source->qualified));
  ExecDdl(
      psprintf("ALTER TABLE %s ADD COLUMN archived_at pg_catalog.timestamptz NOT NULL "
               "DEFAULT pg_catalog.now()",
               archive));
  // Owned by the role whose code will write it before anything is built on
  // it: PostgreSQL builds the index below as the table's owner.
  ExecDdl(psprintf("REVOKE ALL ON %s FROM PUBLIC", archive));
  ExecDdl(psprintf("ALTER TABLE %s OWNER TO %s", archive,
                   quote_identifier(GetUserNameFromId(owner, false))));
  if (source->pk_index_name) AddPrimaryKeyIndex(source, archive);

  EndCatalogWork(&work);

  Oid relid = get_relname_relid(chosen, get_namespace_oid(kArchiveSchema, false));
  ereport(NOTICE, (errmsg("created archive table %s", archive)));
  return relid;
}

namespace {

// The archive is a plain or partitioned table, neither temporary nor (unless
// the source is) unlogged.
void CheckArchiveKind(Relation rel, const SourceInfo* source) {
  const char* name = RelationGetRelationName(rel);
  char kind = rel->rd_rel->relkind;
  if (kind != RELKIND_RELATION && kind != RELKIND_PARTITIONED_TABLE)
    ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
                    errmsg("archive table \"%s\" is not a table", name)));
  if (rel->rd_rel->relpersistence == RELPERSISTENCE_TEMP)
    ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                    errmsg("archive table \"%s\" must not be temporary", name)));
  if (rel->rd_rel->relpersistence == RELPERSISTENCE_UNLOGGED &&
      get_rel_persistence(source->relid) != RELPERSISTENCE_UNLOGGED)
    ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                    errmsg("archive table \"%s\" must not be unlogged", name),
                    errdetail("A crash empties an unlogged table, and the archived rows would be "
                              "lost.")));
}

// Column i of the source exists in the archive, by name, with a type that
// stores its values unchanged, and is neither generated nor identity ALWAYS.
// Marks the archive's column in matched.
void CheckArchiveColumn(Relation rel, const SourceInfo* source, int i, bool* matched) {
  Oid archive_relid = RelationGetRelid(rel);
  const char* name = RelationGetRelationName(rel);
  TupleDesc desc = RelationGetDescr(rel);
  const char* col = source->column_names[i];
  AttrNumber attnum = get_attnum(archive_relid, col);
  if (attnum == InvalidAttrNumber)
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN),
                    errmsg("archive table \"%s\" has no column \"%s\"", name, col),
                    errdetail("Every column of \"%s\" must exist in the archive table, by name.",
                              source->table_name)));
  Form_pg_attribute att = TupleDescAttr(desc, attnum - 1);
  matched[attnum - 1] = true;
  // Archived values must come back unchanged: the same type (any length
  // limit at least as wide), or one the value converts to without a cast
  // function (varchar to text, say). No rounding, truncation or time zone.
  Oid src_type = source->column_types[i];
  int32 src_typmod = source->column_typmods[i];
  bool same = att->atttypid == src_type && (att->atttypmod == -1 || att->atttypmod == src_typmod);
  bool lossless = att->atttypid != src_type && att->atttypmod == -1 &&
                  IsBinaryCoercible(src_type, att->atttypid);
  if (!same && !lossless)
    ereport(ERROR,
            (errcode(ERRCODE_DATATYPE_MISMATCH),
             errmsg("column \"%s\" of archive table \"%s\" has type %s, which cannot store %s "
                    "unchanged",
                    col, name, format_type_with_typemod(att->atttypid, att->atttypmod),
                    format_type_with_typemod(src_type, src_typmod))));
  if (att->attgenerated)
    ereport(ERROR,
            (errcode(ERRCODE_INVALID_TABLE_DEFINITION),
             errmsg("column \"%s\" of archive table \"%s\" is a generated column", col, name)));
  if (att->attidentity == ATTRIBUTE_IDENTITY_ALWAYS)
    ereport(ERROR, (errcode(ERRCODE_INVALID_TABLE_DEFINITION),
                    errmsg("column \"%s\" of archive table \"%s\" is GENERATED ALWAYS AS IDENTITY",
                           col, name),
                    errhint("Archived rows keep their values; use a plain column.")));
}

// The archive's columns the source lacks are left empty: they must allow it.
void CheckUnmatchedColumns(Relation rel, const SourceInfo* source, const bool* matched) {
  const char* name = RelationGetRelationName(rel);
  TupleDesc desc = RelationGetDescr(rel);
  for (int i = 0; i < desc->natts; ++i) {
    Form_pg_attribute att = TupleDescAttr(desc, i);
    if (att->attisdropped || matched[i]) continue;
    if (att->attnotnull && !att->atthasdef && !att->attidentity && !att->attgenerated)
      ereport(ERROR,
              (errcode(ERRCODE_INVALID_TABLE_DEFINITION),
               errmsg("column \"%s\" of archive table \"%s\" is NOT NULL and has no default",
                      NameStr(att->attname), name),
               errdetail("The column does not exist in \"%s\", so archived rows leave it empty.",
                         source->table_name)));
  }
}

// Batches insert as the table owner: the archive must be theirs, and writable.
void CheckArchiveOwner(Relation rel, const SourceInfo* source, Oid owner) {
  Oid archive_relid = RelationGetRelid(rel);
  const char* name = RelationGetRelationName(rel);
  // Its triggers, rules and defaults run as owner when a batch inserts: they
  // must not be another role's code.
  Oid archive_owner = rel->rd_rel->relowner;
  if (!RoleActsAs(archive_owner, owner))
    ereport(ERROR,
            (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
             errmsg("archive table \"%s\" is owned by role \"%s\", not by the owner of table "
                    "\"%s\"",
                    name, GetUserNameFromId(archive_owner, false), source->table_name),
             errdetail("Batches insert into the archive as role \"%s\"; the archive's triggers "
                       "and defaults would run another role's code with its rights.",
                       GetUserNameFromId(owner, false)),
             errhint("Give the archive table to role \"%s\" with ALTER TABLE ... OWNER TO.",
                     GetUserNameFromId(owner, false))));
  if (pg_class_aclcheck(archive_relid, owner, ACL_INSERT) != ACLCHECK_OK)
    ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                    errmsg("role \"%s\" may not insert into archive table \"%s\"",
                           GetUserNameFromId(owner, false), name)));
}

}  // namespace

void CheckArchiveTable(Oid archive_relid, const SourceInfo* source, Oid owner) {
  if (archive_relid == source->relid)
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                    errmsg("archive_table must differ from the source table")));
  Relation rel = relation_open(archive_relid, AccessShareLock);
  CheckArchiveKind(rel, source);
  TupleDesc desc = RelationGetDescr(rel);
  bool* matched = static_cast<bool*>(palloc0(sizeof(bool) * (desc->natts + 1)));
  for (int i = 0; i < source->ncolumns; ++i) CheckArchiveColumn(rel, source, i, matched);
  CheckUnmatchedColumns(rel, source, matched);
  CheckArchiveOwner(rel, source, owner);
  relation_close(rel, AccessShareLock);
}

}  // namespace pg_retention::pg
