// expression.cpp: see expression.hpp.
#include "pg/policy/expression.hpp"

#include "pg/module/session.hpp"
#include "pg/module/subtransaction.hpp"

extern "C" {
#include "postgres.h"

#include "access/relation.h"
#include "access/sysattr.h"
#include "catalog/pg_type.h"
#include "nodes/bitmapset.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_collate.h"
#include "parser/parse_expr.h"
#include "parser/parse_node.h"
#include "parser/parse_relation.h"
#include "parser/parser.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"
#include "utils/regproc.h"
#include "catalog/pg_proc.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/syscache.h"

#include "pg/pg_compat.h"
}

namespace pg_retention::pg {

namespace {

struct ParseErrorContext {
  const char* role_name;
  const char* query;
};

// Reports parser errors against our own text, not against the caller's
// statement (as PL/pgSQL does for its expressions).
void ExpressionErrorCallback(void* arg) {
  const ParseErrorContext* ctx = static_cast<const ParseErrorContext*>(arg);
  int pos = geterrposition();
  if (pos > 0) {
    errposition(0);
    internalerrposition(pos);
    internalerrquery(ctx->query);
  }
  errcontext("retention policy expression %s", ctx->role_name);
}

const char* RoleName(ExprRole role) { return role == ExprRole::kFilter ? "filter" : "expires_at"; }

[[noreturn]] void NotASingleExpression(ExprRole role) {
  ereport(ERROR, (errcode(ERRCODE_SYNTAX_ERROR),
                  errmsg("%s must be a single SQL expression", RoleName(role)),
                  errhint("Write an expression over the table's columns, such as \"revoked_at\" "
                          "or \"created_at + make_interval(secs => expires_in)\".")));
}

// Rejects statements that carry more than one bare expression.
Node* SingleRawExpression(const char* query, ExprRole role) {
  List* stmts = raw_parser(query, RAW_PARSE_DEFAULT);
  if (list_length(stmts) != 1) NotASingleExpression(role);
  RawStmt* raw = linitial_node(RawStmt, stmts);
  if (!IsA(raw->stmt, SelectStmt)) NotASingleExpression(role);
  SelectStmt* sel = reinterpret_cast<SelectStmt*>(raw->stmt);
  if (sel->op != SETOP_NONE || sel->distinctClause || sel->intoClause || sel->fromClause ||
      sel->whereClause || sel->groupClause || sel->havingClause || sel->windowClause ||
      sel->valuesLists || sel->sortClause || sel->limitOffset || sel->limitCount ||
      sel->lockingClause || sel->withClause || list_length(sel->targetList) != 1)
    NotASingleExpression(role);
  ResTarget* target = linitial_node(ResTarget, sel->targetList);
  if (target->name != NULL || target->indirection != NIL) NotASingleExpression(role);
  return target->val;
}

void CheckShape(ParseState* pstate, Node* expr, ExprRole role) {
  const char* what = RoleName(role);
  if (pstate->p_hasSubLinks)
    ereport(ERROR,
            (errcode(ERRCODE_FEATURE_NOT_SUPPORTED), errmsg("%s must not contain a subquery", what),
             errhint("A policy expression can only read the row being checked.")));
  if (pstate->p_hasAggs)
    ereport(ERROR, (errcode(ERRCODE_GROUPING_ERROR),
                    errmsg("%s must not contain an aggregate function", what)));
  if (pstate->p_hasWindowFuncs)
    ereport(ERROR, (errcode(ERRCODE_WINDOWING_ERROR),
                    errmsg("%s must not contain a window function", what)));
  if (pstate->p_hasTargetSRFs || expression_returns_set(expr))
    ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                    errmsg("%s must not contain a set-returning function", what)));
  if (contain_volatile_functions(expr))
    ereport(ERROR, (errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
                    errmsg("%s must not call volatile functions", what),
                    errdetail("A batch evaluates the expression twice per row and must get the "
                              "same answer both times."),
                    errhint("Use only immutable or stable functions, such as now().")));

  Oid type = exprType(expr);
  if (role == ExprRole::kExpiresAt && type != TIMESTAMPTZOID && type != TIMESTAMPOID &&
      type != DATEOID)
    ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
                    errmsg("expires_at must be of type timestamp with time zone, timestamp or "
                           "date, not %s",
                           format_type_be(type)),
                    errhint("NULL means the row never expires; for an age in seconds write "
                            "\"created_at + make_interval(secs => expires_in)\".")));
  if (role == ExprRole::kFilter && type != BOOLOID)
    ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
                    errmsg("filter must be of type boolean, not %s", format_type_be(type))));
}

}  // namespace

AnalyzedExpression AnalyzeExpression(Oid relid, const char* text, ExprRole role) {
  AnalyzedExpression out;
  memset(&out, 0, sizeof(out));

  char* query = psprintf("SELECT %s", text);
  ParseErrorContext ctx = {RoleName(role), query};
  ErrorContextCallback callback;
  callback.callback = ExpressionErrorCallback;
  callback.arg = &ctx;
  callback.previous = error_context_stack;
  error_context_stack = &callback;

  Node* raw = SingleRawExpression(query, role);

  Relation rel = relation_open(relid, AccessShareLock);
  ParseState* pstate = make_parsestate(NULL);
  pstate->p_sourcetext = query;
  ParseNamespaceItem* nsitem =
      addRangeTableEntryForRelation(pstate, rel, AccessShareLock, NULL, false, true);
  addNSItemToQuery(pstate, nsitem, true, true, true);

  Node* expr = transformExpr(pstate, raw, EXPR_KIND_SELECT_TARGET);
  assign_expr_collations(pstate, expr);
  CheckShape(pstate, expr, role);

  // Only plain user columns of this table: no whole-row or system columns.
  Bitmapset* attrs = NULL;
  pull_varattnos(expr, 1, &attrs);
  List* vars = pull_var_clause(expr, PVC_RECURSE_PLACEHOLDERS);
  ListCell* lc;
  foreach (lc, vars) {
    Var* var = static_cast<Var*>(lfirst(lc));
    if (var->varlevelsup != 0 || var->varno != 1)
      ereport(ERROR, (errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
                      errmsg("%s may only refer to columns of table \"%s\"", RoleName(role),
                             RelationGetRelationName(rel))));
    if (var->varattno <= 0)
      ereport(ERROR,
              (errcode(ERRCODE_INVALID_COLUMN_REFERENCE),
               errmsg("%s may not refer to system columns or the whole row", RoleName(role))));
  }
  out.nattnums = bms_num_members(attrs);
  out.attnums = static_cast<int16_t*>(palloc0(sizeof(int16_t) * (out.nattnums + 1)));
  int i = 0, member = -1;
  while ((member = bms_next_member(attrs, member)) >= 0)
    out.attnums[i++] = static_cast<int16_t>(member + FirstLowInvalidHeapAttributeNumber);

  out.type_oid = exprType(expr);
  out.node = expr;
  relation_close(rel, AccessShareLock);
  error_context_stack = callback.previous;
  return out;
}

namespace {

struct ObjectCheck {
  Oid table_owner;
  Oid bad_function;  // the first untrusted function found
  Oid bad_type;      // the first untrusted domain found
};

bool TrustedCode(Oid owner, Oid nsp, Oid table_owner) {
  if (nsp == PG_CATALOG_NAMESPACE) return true;
  if (isAnyTempNamespace(nsp)) return false;
  return RoleActsAs(owner, table_owner);
}

bool UntrustedFunction(Oid func, void* context) {
  ObjectCheck* check = static_cast<ObjectCheck*>(context);
  HeapTuple tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(func));
  if (!HeapTupleIsValid(tup)) return false;
  Form_pg_proc proc = (Form_pg_proc) GETSTRUCT(tup);
  bool untrusted = !TrustedCode(proc->proowner, proc->pronamespace, check->table_owner);
  ReleaseSysCache(tup);
  if (untrusted) check->bad_function = func;
  return untrusted;
}

bool UntrustedType(Oid type, void* context) {
  ObjectCheck* check = static_cast<ObjectCheck*>(context);
  HeapTuple tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(type));
  if (!HeapTupleIsValid(tup)) return false;
  Form_pg_type form = (Form_pg_type) GETSTRUCT(tup);
  bool untrusted = !TrustedCode(form->typowner, form->typnamespace, check->table_owner);
  ReleaseSysCache(tup);
  if (untrusted) check->bad_type = type;
  return untrusted;
}

struct CodeSearch {
  bool (*function)(Oid, void*);
  bool (*domain)(Oid, void*);
  void* context;
};

bool FindCode(Node* node, void* search_arg) {
  if (node == nullptr) return false;
  const CodeSearch* search = static_cast<const CodeSearch*>(search_arg);
  if (IsA(node, OpExpr) || IsA(node, DistinctExpr) || IsA(node, NullIfExpr))
    set_opfuncid(reinterpret_cast<OpExpr*>(node));
  if (IsA(node, ScalarArrayOpExpr)) set_sa_opfuncid(reinterpret_cast<ScalarArrayOpExpr*>(node));
  if (check_functions_in_node(node, search->function, search->context)) return true;
  if (IsA(node, CoerceToDomain) &&
      search->domain(reinterpret_cast<CoerceToDomain*>(node)->resulttype, search->context))
    return true;
  return expression_tree_walker(node, RETENTION_WALKER(FindCode), search_arg);
}

// Every function the expression calls (operators' and casts' included) and
// every domain it coerces to (whose CHECK runs): owned by a trusted role.
bool FindUntrustedObject(Node* node, ObjectCheck* check) {
  return FindFunctionOrDomain(node, UntrustedFunction, UntrustedType, check);
}

// True for the clock: now() and its SQL spellings (CURRENT_DATE,
// CURRENT_TIMESTAMP, LOCALTIMESTAMP, ...), statement_timestamp(),
// transaction_timestamp(). (clock_timestamp() is volatile, refused anyway.)
bool ReadsTheClock(Node* node, void* context) {
  if (node == nullptr) return false;
  if (IsA(node, SQLValueFunction)) {
    SQLValueFunctionOp op = reinterpret_cast<SQLValueFunction*>(node)->op;
    if (op >= SVFOP_CURRENT_DATE && op <= SVFOP_LOCALTIMESTAMP_N) return true;
  }
  if (IsA(node, FuncExpr)) {
    Oid fn = reinterpret_cast<FuncExpr*>(node)->funcid;
    if (fn == F_NOW || fn == F_STATEMENT_TIMESTAMP || fn == F_TRANSACTION_TIMESTAMP) return true;
  }
  return expression_tree_walker(node, RETENTION_WALKER(ReadsTheClock), context);
}

// A new expires_at must tell rows apart and stay put: it reads a column,
// and not the clock (a run compares it with now() - retain itself).
void CheckExpiryIsOfTheRow(const AnalyzedExpression* expires, const char* table) {
  if (expires->nattnums == 0)
    ereport(ERROR, (errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
                    errmsg("expires_at must read a column of table \"%s\"", table),
                    errdetail("An expiry that reads no column is the same for every row: every row "
                              "would expire at once."),
                    errhint("Name the column that says when a row expires, such as \"revoked_at\" "
                            "or \"created_at + make_interval(secs => expires_in)\".")));
  if (ReadsTheClock(static_cast<Node*>(expires->node), nullptr))
    ereport(ERROR,
            (errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
             errmsg("expires_at must not depend on the current time"),
             errdetail("A run purges the rows whose expires_at is before now() - retain; an "
                       "expiry that moves with the clock makes every row purgeable, or none."),
             errhint("Write when the row expires, such as \"created_at + make_interval(days => "
                     "ttl_days)\", and say how long to keep it after that with retain.")));
}

// Deparsed under the pinned settings with only pg_catalog visible, so every
// other name is schema-qualified and every literal is written in one style.
char* Deparse(Oid relid, Node* expr, const char* timezone) {
  int nest = NewGUCNestLevel();
  PinMeaningSettings(timezone);
  char* text =
      deparse_expression(expr, deparse_context_for(get_rel_name(relid), relid), false, false);
  RestoreSettings(nest);
  return text;
}

// Whether anybody but the owners (and superusers) can create objects in the
// schema: its owner, or a CREATE grant to PUBLIC or to another role.
bool SchemaIsSafe(Oid nsp, const ExpressionOwners* owners) {
  if (nsp == PG_CATALOG_NAMESPACE) return true;
  auto trusted = [owners](Oid role) {
    return role == owners->table_owner || role == owners->policy_owner || superuser_arg(role);
  };
  HeapTuple tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nsp));
  if (!HeapTupleIsValid(tup)) return false;
  bool safe = trusted(((Form_pg_namespace) GETSTRUCT(tup))->nspowner);
  bool isnull;
  Datum acl_datum = SysCacheGetAttr(NAMESPACEOID, tup, Anum_pg_namespace_nspacl, &isnull);
  if (safe && !isnull) {
    Acl* acl = DatumGetAclP(acl_datum);
    const AclItem* items = ACL_DAT(acl);
    for (int i = 0; safe && i < ACL_NUM(acl); ++i)
      if ((ACLITEM_GET_PRIVS(items[i]) & ACL_CREATE) != 0)
        safe = items[i].ai_grantee != ACL_ID_PUBLIC && trusted(items[i].ai_grantee);
  }
  ReleaseSysCache(tup);
  return safe;
}

// The caller's search_path less every unsafe schema and the temporary one,
// as a search_path value; *unsafe gets the first schema left out (or
// nullptr).
char* SafeSearchPath(const ExpressionOwners* owners, char** unsafe) {
  StringInfoData path;
  initStringInfo(&path);
  *unsafe = nullptr;
  List* schemas = fetch_search_path(false);
  ListCell* lc;
  foreach (lc, schemas) {
    Oid nsp = lfirst_oid(lc);
    if (isAnyTempNamespace(nsp)) continue;
    if (!SchemaIsSafe(nsp, owners)) {
      if (*unsafe == nullptr) *unsafe = get_namespace_name(nsp);
      continue;
    }
    appendStringInfo(&path, "%s, ", quote_identifier(get_namespace_name(nsp)));
  }
  appendStringInfoString(&path, "pg_temp");
  return path.data;
}

// AnalyzeExpression with search_path = path; nullptr when it fails (the
// error is discarded with the subtransaction).
Node* ParseWithPath(Oid relid, const char* text, ExprRole role, const char* path) {
  Node* node = nullptr;
  ErrorData* error = InSubtransaction([&]() {
    SetLocalSetting("search_path", path);  // undone when the subtransaction ends
    node = static_cast<Node*>(AnalyzeExpression(relid, text, role).node);
  });
  if (error == nullptr) return node;
  // A cancel is the caller's, not a parse failure.
  if (error->sqlerrcode == ERRCODE_QUERY_CANCELED) ReThrowError(error);
  FreeErrorData(error);
  return nullptr;
}

}  // namespace

bool FindFunctionOrDomain(void* node, bool (*function)(Oid, void*), bool (*domain)(Oid, void*),
                          void* context) {
  CodeSearch search = {function, domain, context};
  return FindCode(static_cast<Node*>(node), &search);
}

AnalyzedExpression AnalyzeUserExpression(Oid relid, const char* text, ExprRole role,
                                         const ExpressionOwners* owners) {
  AnalyzedExpression out = AnalyzeExpression(relid, text, role);
  if (role == ExprRole::kExpiresAt) CheckExpiryIsOfTheRow(&out, get_rel_name(relid));
  char* unsafe;
  char* safe_path = SafeSearchPath(owners, &unsafe);
  if (unsafe != nullptr) {
    Node* safe = ParseWithPath(relid, text, role, safe_path);
    if (safe == nullptr || !equal(safe, out.node))
      ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                      errmsg("%s resolves names through schema \"%s\", in which other roles can "
                             "create objects",
                             RoleName(role), unsafe),
                      errdetail("The policy's code runs as the owner of the table; a name another "
                                "role can define there could run that role's code instead."),
                      errhint("Qualify the names with their schema, such as "
                              "\"pg_catalog.make_interval(...)\", or leave schema \"%s\" out of "
                              "search_path.",
                              unsafe)));
  }
  CheckExpressionObjects(&out, owners->table_owner, RoleName(role));
  out.canonical = Deparse(relid, static_cast<Node*>(out.node), owners->timezone);

  // Every run parses the canonical text in the sandbox: it must mean what
  // the caller's text meant.
  AnalyzedExpression back = AnalyzeStoredExpression(relid, out.canonical, role, owners);
  if (!equal(back.node, out.node))
    ereport(ERROR, (errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
                    errmsg("%s cannot be stored so that it means the same in every session",
                           RoleName(role)),
                    errdetail("Stored as: %s", out.canonical),
                    errhint("Write it with explicit casts and schema-qualified names.")));
  return out;
}

void CheckExpressionObjects(const AnalyzedExpression* expr, Oid table_owner,
                            const char* role_name) {
  ObjectCheck check = {table_owner, InvalidOid, InvalidOid};
  if (!FindUntrustedObject(static_cast<Node*>(expr->node), &check)) return;
  const char* owner = GetUserNameFromId(table_owner, false);
  if (OidIsValid(check.bad_function))
    ereport(ERROR,
            (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
             errmsg("%s calls function %s, which is not owned by role \"%s\"", role_name,
                    format_procedure_qualified(check.bad_function), owner),
             errdetail("The policy's code runs as the owner of its table; another role's "
                       "function would run with that role's rights."),
             errhint("Use functions of pg_catalog, of role \"%s\" or of a superuser.", owner)));
  ereport(ERROR,
          (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
           errmsg("%s uses domain %s, which is not owned by role \"%s\"", role_name,
                  format_type_be_qualified(check.bad_type), owner),
           errdetail("The policy's code runs as the owner of its table; another role's domain "
                     "constraint would run with that role's rights.")));
}

AnalyzedExpression AnalyzeStoredExpression(Oid relid, const char* text, ExprRole role,
                                           const ExpressionOwners* owners) {
  Sandbox sandbox;
  BeginSandbox(owners->table_owner, owners->timezone, &sandbox);
  AnalyzedExpression out = AnalyzeExpression(relid, text, role);
  EndSandbox(&sandbox);
  CheckExpressionObjects(&out, owners->table_owner, RoleName(role));
  out.canonical = pstrdup(text);
  return out;
}

int16_t* MergeAttnums(const AnalyzedExpression* a, const AnalyzedExpression* b, int* count) {
  Bitmapset* set = NULL;
  for (int i = 0; i < a->nattnums; ++i) set = bms_add_member(set, a->attnums[i]);
  if (b)
    for (int i = 0; i < b->nattnums; ++i) set = bms_add_member(set, b->attnums[i]);
  *count = bms_num_members(set);
  int16_t* out = static_cast<int16_t*>(palloc0(sizeof(int16_t) * (*count + 1)));
  int i = 0, member = -1;
  while ((member = bms_next_member(set, member)) >= 0) out[i++] = static_cast<int16_t>(member);
  return out;
}

}  // namespace pg_retention::pg
