// role_hooks.cpp: role DDL and policy owners (see role_hooks.hpp).
//
// retention.policy.owner is a regrole: nothing ties it to pg_shdepend, so
// PostgreSQL alone would drop a role that owns policies and leave them
// behind. In the current database, when extension pg_retention is installed
// here and the server is not in recovery, the ProcessUtility hook makes
//
//   DROP ROLE r [, ...]               fail with 2BP01 when r owns a policy,
//   REASSIGN OWNED BY a [, ...] TO b  move a's policies to b,
//   DROP OWNED BY a [, ...]           delete a's policies,
//
// each in the statement's own transaction.
//
// When: every check runs AFTER the standard (or previous) ProcessUtility.
//  - PostgreSQL's own checks keep their order, and their errors come first:
//    the privilege to drop or reassign, missing roles (and IF EXISTS), the
//    current and session user, superusers, its own pg_shdepend dependencies.
//    A role that may not drop r never learns the names of r's policies from
//    our error detail (the security model shows them only to r's members,
//    pg_monitor and superusers; whoever may drop r may also grant itself r).
//  - DROP ROLE: the roles are looked up before the call (they are gone after
//    it) and their policies looked for after it. Our error aborts the
//    statement's (sub)transaction, roles and all, so nothing is dropped: the
//    outcome PostgreSQL's own dependency check gives.
//  - REASSIGN OWNED / DROP OWNED: the catalog changes only once PostgreSQL
//    has accepted the statement. DROP OWNED may drop the extension itself (a
//    role that owns it), so whether it is installed is asked after the call.
//    Tables DROP OWNED drops take their policies with them through
//    retention_internal.on_sql_drop(), which has run by then; the rest of the role's
//    policies are deleted here. Quietly: PostgreSQL's DROP OWNED reports none
//    of the objects it drops because the role owns them (only the ones that
//    go with them by CASCADE), and the statement names the owner, so every
//    one of its policies going is what was asked for. The NOTICE of
//    on_sql_drop() is for policies that go as a side effect of a DROP TABLE.
//
// Limitations:
//  - Only the current database's policies are seen. PostgreSQL's pg_shdepend
//    check covers every database, but our catalog is per database: DROP ROLE
//    issued in another database (or here while the extension is absent)
//    leaves this database's policies of that role behind. A run of such a
//    policy refuses to start (its owner no longer owns the table), and the
//    table's owner can take it over or drop it.
//  - Only backends that loaded the library have the hook; with the library in
//    shared_preload_libraries (the scheduler needs it anyway) that is all.
// A policy added (or taken over) by a session of r while another session
// drops r cannot slip past the check: add_policy and alter_policy lock the
// owner role first, as PostgreSQL's shdepLockAndCheckObject does.
#include "pg/policy/role_hooks.hpp"

#include "pg/policy/catalog.hpp"
#include "pg/workers/database_hold.hpp"
#include "pg/module/session.hpp"

extern "C" {
#include "postgres.h"

#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
}

namespace pg_retention::pg {

namespace {

ProcessUtility_hook_type prev_process_utility = nullptr;

// As PostgreSQL's MAX_REPORTED_DEPS: the client sees at most this many
// policies, the server log all of them.
constexpr uint64 kMaxReportedPolicies = 100;

// A role named in DROP ROLE, looked up before PostgreSQL drops it.
struct NamedRole {
  char* name;
  Oid oid;
};

bool PoliciesLiveHere() {
  return !RecoveryInProgress() && OidIsValid(get_extension_oid("pg_retention", true));
}

// The roles of REASSIGN OWNED or DROP OWNED as an oid[] datum. PostgreSQL
// has resolved each of them already (CURRENT_USER and the like included).
Datum RoleOidArray(List* roles) {
  Datum* oids = static_cast<Datum*>(palloc(sizeof(Datum) * list_length(roles)));
  int n = 0;
  ListCell* cell;
  foreach (cell, roles)
    oids[n++] = ObjectIdGetDatum(get_rolespec_oid(lfirst_node(RoleSpec, cell), false));
  return PointerGetDatum(construct_array(oids, n, OIDOID, sizeof(Oid), true, TYPALIGN_INT));
}

// Before DROP ROLE: the roles it names that exist. Special role specifiers
// (PostgreSQL refuses them in DROP ROLE) and missing roles (it reports them,
// or skips them with IF EXISTS) are left to PostgreSQL.
NamedRole* RolesToDrop(const DropRoleStmt* stmt, int* count) {
  NamedRole* roles = static_cast<NamedRole*>(palloc0(sizeof(NamedRole) * list_length(stmt->roles)));
  int n = 0;
  ListCell* cell;
  foreach (cell, stmt->roles) {
    RoleSpec* spec = lfirst_node(RoleSpec, cell);
    if (spec->roletype != ROLESPEC_CSTRING) continue;
    Oid oid = get_rolespec_oid(spec, true);
    if (!OidIsValid(oid)) continue;
    roles[n].name = pstrdup(spec->rolename);
    roles[n].oid = oid;
    n++;
  }
  *count = n;
  return roles;
}

// After DROP ROLE: fails, as PostgreSQL does for the objects it tracks, when
// one of the roles owns a policy in this database (in statement order).
void RefuseDropOfPolicyOwners(const NamedRole* roles, int count) {
  SPI_connect();
  for (int i = 0; i < count; ++i) {
    Oid types[1] = {OIDOID};
    Datum values[1] = {ObjectIdGetDatum(roles[i].oid)};
    ExecCatalog("SELECT name FROM retention.policy WHERE owner::pg_catalog.oid = $1 ORDER BY name",
                1, types, values, NULL, 0);
    uint64 n = SPI_processed;
    if (n == 0) continue;
    StringInfoData detail;
    StringInfoData detail_log;
    initStringInfo(&detail);
    initStringInfo(&detail_log);
    for (uint64 j = 0; j < n; ++j) {
      char* name = SPI_getvalue(SPI_tuptable->vals[j], SPI_tuptable->tupdesc, 1);
      if (j < kMaxReportedPolicies)
        appendStringInfo(&detail, "%sowner of retention policy \"%s\"", j ? "\n" : "", name);
      appendStringInfo(&detail_log, "%sowner of retention policy \"%s\"", j ? "\n" : "", name);
    }
    uint64 more = n - (n < kMaxReportedPolicies ? n : kMaxReportedPolicies);
    if (more > 0)
      appendStringInfo(&detail,
                       more == 1 ? "\nand %llu other object (see server log for list)"
                                 : "\nand %llu other objects (see server log for list)",
                       static_cast<unsigned long long>(more));
    ereport(
        ERROR,
        (errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
         errmsg("role \"%s\" cannot be dropped because some objects depend on it", roles[i].name),
         errdetail_internal("%s", detail.data), more > 0 ? errdetail_log("%s", detail_log.data) : 0,
         errhint("Use retention.drop_policy(), DROP OWNED or REASSIGN OWNED first.")));
  }
  SPI_finish();
}

// After REASSIGN OWNED: the policies of the old roles go to the new one.
void ReassignPolicies(const ReassignOwnedStmt* stmt) {
  Oid types[2] = {OIDOID, OIDARRAYOID};
  Datum values[2] = {ObjectIdGetDatum(get_rolespec_oid(stmt->newrole, false)),
                     RoleOidArray(stmt->roles)};
  SPI_connect();
  ExecCatalog(
      "UPDATE retention.policy SET owner = $1::pg_catalog.regrole"
      " WHERE owner::pg_catalog.oid = ANY ($2) AND owner::pg_catalog.oid <> $1",
      2, types, values, NULL, 0);
  SPI_finish();
}

// After DROP OWNED: the roles' remaining policies go (policy_state cascades).
void DropOwnedPolicies(const DropOwnedStmt* stmt) {
  Oid types[1] = {OIDARRAYOID};
  Datum values[1] = {RoleOidArray(stmt->roles)};
  SPI_connect();
  ExecCatalog("DELETE FROM retention.policy WHERE owner::pg_catalog.oid = ANY ($1)", 1, types,
              values, NULL, 0);
  SPI_finish();
}

// The hook: PostgreSQL (or the previous hook) first, then our part; see the
// banner for why in that order.
void RoleUtilityHook(PlannedStmt* pstmt, const char* query_string, bool read_only_tree,
                     ProcessUtilityContext context, ParamListInfo params,
                     QueryEnvironment* query_env, DestReceiver* dest, QueryCompletion* qc) {
  Node* stmt = pstmt->utilityStmt;
  NamedRole* dropped = nullptr;
  int ndropped = 0;
  if (IsA(stmt, DropRoleStmt) && PoliciesLiveHere())
    dropped = RolesToDrop(castNode(DropRoleStmt, stmt), &ndropped);
  // DROP DATABASE and friends: the database's scheduler makes way first.
  HoldDatabaseFor(stmt);

  if (prev_process_utility)
    prev_process_utility(pstmt, query_string, read_only_tree, context, params, query_env, dest, qc);
  else
    standard_ProcessUtility(pstmt, query_string, read_only_tree, context, params, query_env, dest,
                            qc);

  // The statement is unchanged: with read_only_tree PostgreSQL works on a
  // copy, and none of these three statements is modified in any case.
  switch (nodeTag(stmt)) {
    case T_DropRoleStmt:
      if (ndropped > 0) RefuseDropOfPolicyOwners(dropped, ndropped);
      break;
    case T_ReassignOwnedStmt:
      if (PoliciesLiveHere()) ReassignPolicies(castNode(ReassignOwnedStmt, stmt));
      break;
    case T_DropOwnedStmt:
      if (PoliciesLiveHere()) DropOwnedPolicies(castNode(DropOwnedStmt, stmt));
      break;
    default: break;
  }
}

}  // namespace

void InstallRoleHooks() {
  prev_process_utility = ProcessUtility_hook;
  ProcessUtility_hook = RoleUtilityHook;
}

}  // namespace pg_retention::pg
