// relation_info.cpp: see relation_info.hpp.
#include "pg/policy/relation_info.hpp"

#include "core/statement_builder.hpp"
#include "pg/module/guard.hpp"
#include "pg/module/session.hpp"

extern "C" {
#include "postgres.h"

#include "access/htup_details.h"
#include "access/genam.h"
#include "access/relation.h"
#include "catalog/catalog.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "access/stratnum.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "utils/acl.h"
#include "pg/pg_compat.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/syscache.h"
}

namespace pg_retention::pg {

namespace {

// Schema of a btree strategy operator of the opfamily, or nullptr when the
// operator is missing or not named as the strategy (<, >, <=) would be.
char* StrategyOperatorSchema(Oid opfamily, Oid type, int16 strategy, const char* expected) {
  Oid opno = get_opfamily_member(opfamily, type, type, strategy);
  if (!OidIsValid(opno)) return nullptr;
  HeapTuple tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(opno));
  if (!HeapTupleIsValid(tup)) return nullptr;
  Form_pg_operator op = (Form_pg_operator) GETSTRUCT(tup);
  char* schema = nullptr;
  if (strcmp(NameStr(op->oprname), expected) == 0)
    schema = pstrdup(quote_identifier(get_namespace_name(op->oprnamespace)));
  ReleaseSysCache(tup);
  return schema;
}

// Fills info->keys from the primary key when every key column has <, > and
// <= from one schema; otherwise leaves nkeys at 0 (block range walk).
void DescribePrimaryKey(Relation rel, SourceInfo* info) {
  Oid pk = RelationGetPrimaryKeyIndexCompat(rel);
  if (!OidIsValid(pk)) return;
  Relation idx = index_open(pk, AccessShareLock);
  int nkeys = IndexRelationGetNumberOfKeyAttributes(idx);
  KeyColumnInfo* keys = static_cast<KeyColumnInfo*>(palloc0(sizeof(KeyColumnInfo) * nkeys));
  bool usable = true;
  for (int i = 0; i < nkeys && usable; ++i) {
    AttrNumber attnum = idx->rd_index->indkey.values[i];
    if (attnum <= 0) {
      usable = false;
      break;
    }
    Oid type = idx->rd_opcintype[i];
    char* lt = StrategyOperatorSchema(idx->rd_opfamily[i], type, BTLessStrategyNumber, "<");
    char* gt = StrategyOperatorSchema(idx->rd_opfamily[i], type, BTGreaterStrategyNumber, ">");
    char* le = StrategyOperatorSchema(idx->rd_opfamily[i], type, BTLessEqualStrategyNumber, "<=");
    if (!lt || !gt || !le || strcmp(lt, gt) != 0 || strcmp(lt, le) != 0 ||
        (i > 0 && strcmp(lt, keys[0].op_schema) != 0)) {
      usable = false;
      break;
    }
    Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel), attnum - 1);
    keys[i].name = pstrdup(quote_identifier(NameStr(att->attname)));
    keys[i].op_schema = lt;
    keys[i].type_oid = att->atttypid;
  }
  info->pk_index_name = pstrdup(RelationGetRelationName(idx));
  index_close(idx, AccessShareLock);
  if (usable) {
    info->nkeys = nkeys;
    info->keys = keys;
  }
}

// A valid, non-partial btree index whose first key is the expiry expression
// and whose operator family compares it with a timestamptz cutoff.
void FindExpiryIndex(Relation rel, const AnalyzedExpression* expires, SourceInfo* info) {
  Node* expr = eval_const_expressions(NULL, static_cast<Node*>(copyObjectImpl(expires->node)));
  while (IsA(expr, RelabelType)) expr = (Node*) ((RelabelType*) expr)->arg;
  List* indexes = RelationGetIndexList(rel);
  ListCell* lc;
  foreach (lc, indexes) {
    Relation idx = index_open(lfirst_oid(lc), AccessShareLock);
    Form_pg_index form = idx->rd_index;
    bool match = false;
    if (idx->rd_rel->relam == BTREE_AM_OID && form->indisvalid && form->indisready &&
        form->indislive && RelationGetIndexPredicate(idx) == NIL &&
        OidIsValid(get_opfamily_member(idx->rd_opfamily[0], expires->type_oid, TIMESTAMPTZOID,
                                       BTLessStrategyNumber))) {
      AttrNumber first = form->indkey.values[0];
      if (first > 0) {
        match = IsA(expr, Var) && ((Var*) expr)->varattno == first;
      } else {
        List* exprs = RelationGetIndexExpressions(idx);
        if (exprs != NIL) {
          Node* key = static_cast<Node*>(linitial(exprs));
          while (IsA(key, RelabelType)) key = (Node*) ((RelabelType*) key)->arg;
          match = equal(key, expr);
        }
      }
    }
    if (match && info->expiry_index == nullptr)
      info->expiry_index = pstrdup(RelationGetRelationName(idx));
    index_close(idx, AccessShareLock);
  }
}

}  // namespace

void CheckPolicySourceTable(Oid relid) {
  Relation rel = relation_open(relid, AccessShareLock);
  const char* name = RelationGetRelationName(rel);
  char kind = rel->rd_rel->relkind;
  if (kind == RELKIND_PARTITIONED_TABLE)
    ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                    errmsg("cannot add a retention policy to partitioned table \"%s\"", name),
                    errhint("Add a policy to each partition, or drop whole partitions instead.")));
  if (kind != RELKIND_RELATION)
    ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE), errmsg("\"%s\" is not a table", name),
                    errdetail("Retention policies can only be added to ordinary tables.")));
  if (rel->rd_rel->relpersistence == RELPERSISTENCE_TEMP)
    ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                    errmsg("cannot add a retention policy to temporary table \"%s\"", name)));
  if (IsCatalogRelation(rel) || IsSystemRelation(rel))
    ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                    errmsg("cannot add a retention policy to system table \"%s\"", name)));
  char* schema = get_namespace_name(RelationGetNamespace(rel));
  if (schema != nullptr && strcmp(schema, "information_schema") == 0)
    ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                    errmsg("cannot add a retention policy to table \"%s\" of schema "
                           "\"information_schema\"",
                           name),
                    errdetail("The tables of the information schema belong to PostgreSQL.")));
  if (!pg_class_ownercheck(relid, GetUserId()))
    aclcheck_error(ACLCHECK_NOT_OWNER, get_relkind_objtype(kind), name);
  relation_close(rel, AccessShareLock);
}

char* DefaultPolicyName(Oid relid) {
  char* table = get_rel_name(relid);
  if (table == nullptr)
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
                    errmsg("relation with OID %u does not exist", relid)));
  return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), table);
}

void CheckPolicyOwnerOwnsTable(const char* policy_name, Oid policy_owner, Oid relid) {
  Oid table_owner = RelationOwner(relid);
  char* owner_name = GetUserNameFromId(policy_owner, true);
  if (owner_name != nullptr && RoleActsAs(policy_owner, table_owner)) return;
  const char* table = get_rel_name(relid);
  if (owner_name == nullptr)
    ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                    errmsg("owner of retention policy \"%s\" no longer exists", policy_name),
                    errhint("The owner of table \"%s\" can take the policy over with "
                            "retention.alter_policy(), or drop it with retention.drop_policy().",
                            table)));
  ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                  errmsg("owner of retention policy \"%s\" no longer owns table \"%s\"",
                         policy_name, table),
                  errdetail("Role \"%s\" owns the policy; role \"%s\" owns the table.", owner_name,
                            GetUserNameFromId(table_owner, false)),
                  errhint("The owner of the table can take the policy over with "
                          "retention.alter_policy(), or drop it with retention.drop_policy().")));
}

SourceInfo* DescribeSource(Oid relid, const AnalyzedExpression* expires) {
  SourceInfo* info = static_cast<SourceInfo*>(palloc0(sizeof(SourceInfo)));
  Relation rel = relation_open(relid, AccessShareLock);
  info->relid = relid;
  info->schema_name = get_namespace_name(RelationGetNamespace(rel));
  info->table_name = pstrdup(RelationGetRelationName(rel));
  info->qualified = quote_qualified_identifier(info->schema_name, info->table_name);

  TupleDesc desc = RelationGetDescr(rel);
  info->column_names = static_cast<char**>(palloc0(sizeof(char*) * (desc->natts + 1)));
  info->column_quoted = static_cast<char**>(palloc0(sizeof(char*) * (desc->natts + 1)));
  info->column_types = static_cast<Oid*>(palloc0(sizeof(Oid) * (desc->natts + 1)));
  info->column_typmods = static_cast<int*>(palloc0(sizeof(int) * (desc->natts + 1)));
  for (int i = 0; i < desc->natts; ++i) {
    Form_pg_attribute att = TupleDescAttr(desc, i);
    if (att->attisdropped) continue;
    info->column_names[info->ncolumns] = pstrdup(NameStr(att->attname));
    info->column_quoted[info->ncolumns] = pstrdup(quote_identifier(NameStr(att->attname)));
    info->column_types[info->ncolumns] = att->atttypid;
    info->column_typmods[info->ncolumns] = att->atttypmod;
    info->ncolumns++;
  }
  DescribePrimaryKey(rel, info);
  if (expires) FindExpiryIndex(rel, expires, info);
  info->reltuples = rel->rd_rel->reltuples;
  info->relpages = rel->rd_rel->relpages;
  relation_close(rel, AccessShareLock);
  return info;
}

void CheckReferencingForeignKeys(Oid relid, bool archive_mode) {
  Oid types[1] = {OIDOID};
  Datum values[1] = {ObjectIdGetDatum(relid)};
  int nest = PinSearchPath();
  int rc = SPI_execute_with_args(
      "SELECT c.conname::text, c.conrelid::regclass::text,"
      "       CASE c.confdeltype WHEN 'c' THEN 'ON DELETE CASCADE'"
      "                          WHEN 'n' THEN 'ON DELETE SET NULL'"
      "                          ELSE 'ON DELETE SET DEFAULT' END"
      "  FROM pg_catalog.pg_constraint c"
      " WHERE c.contype = 'f' AND c.confrelid = $1 AND c.confdeltype IN ('c', 'n', 'd')"
      " ORDER BY c.conname",
      1, types, values, NULL, false, 0);
  RestoreSettings(nest);
  if (rc != SPI_OK_SELECT)
    elog(ERROR, "could not read foreign keys: %s", SPI_result_code_string(rc));
  const char* table = get_rel_name(relid);
  for (uint64 i = 0; i < SPI_processed; ++i) {
    HeapTuple tup = SPI_tuptable->vals[i];
    char* conname = SPI_getvalue(tup, SPI_tuptable->tupdesc, 1);
    char* child = SPI_getvalue(tup, SPI_tuptable->tupdesc, 2);
    char* action = SPI_getvalue(tup, SPI_tuptable->tupdesc, 3);
    if (archive_mode)
      ereport(ERROR,
              (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
               errmsg("cannot archive rows of table \"%s\": foreign key \"%s\" on table %s is %s",
                      table, conname, child, action),
               errdetail("Deleting a row would change rows of %s that are not archived.", child),
               errhint("Archive or purge the referencing table first, or use mode => 'delete'.")));
    ereport(NOTICE, (errmsg("rows deleted from \"%s\" will also change rows of %s through "
                            "foreign key \"%s\" (%s)",
                            table, child, conname, action)));
  }
}

const char* DescribeAccessPath(const SourceInfo* info) {
  bool has_index = info->expiry_index != nullptr;
  bool has_key = info->nkeys > 0;
  core::AccessPath path = core::AccessPath::kBlockRange;
  const char* name = nullptr;  // a static string of the core
  CoreError err;
  if (!CallCore(
          &err,
          [](bool index, bool key, core::AccessPath* chosen, const char** out) {
            *chosen = core::ChooseAccessPath(index, key);
            *out = core::AccessPathName(*chosen);
            return core::Status::Ok();
          },
          has_index, has_key, &path, &name))
    RaiseCoreError(&err);
  if (path == core::AccessPath::kIndex)
    return psprintf("%s %s", name, quote_identifier(info->expiry_index));
  return name;
}

}  // namespace pg_retention::pg
