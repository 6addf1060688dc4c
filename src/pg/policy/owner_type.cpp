// owner_type.cpp: input and output of retention.policy_owner, the type of
// retention.policy.owner.
//
// The owner is stored as the role's oid (so that ALTER ROLE ... RENAME keeps
// the policy with its role) and written out as the role's name, which is
// what pg_dump copies. A regrole column made a restore lose every policy in
// one failed COPY when one owner role was missing in the target cluster (a
// restore into another cluster, pg_restore --no-owner). This input instead
// gives a policy whose owner does not exist to the role that reads it in,
// the restoring role, with a WARNING; an owner that exists keeps its policy.
// Only the extension's owner (a superuser) may write the catalog, so the
// mapping changes nothing another role could reach: reading the type in
// yourself only ever yields an existing role or yourself.
extern "C" {
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/varlena.h"
}

extern "C" {
PG_FUNCTION_INFO_V1(retention_policy_owner_in);
PG_FUNCTION_INFO_V1(retention_policy_owner_out);
}

// A role name, quoted as an identifier when needed (as regrole writes it);
// an unknown name is the current role, with a WARNING. Unlike regrole, an
// oid in digits is not read as that oid: in another cluster it would name
// another role.
extern "C" Datum retention_policy_owner_in(PG_FUNCTION_ARGS) {
  char* text = PG_GETARG_CSTRING(0);
  List* names = NIL;
  if (!SplitIdentifierString(pstrdup(text), '.', &names) || list_length(names) != 1)
    ereport(ERROR, (errcode(ERRCODE_INVALID_NAME),
                    errmsg("invalid role name \"%s\" for a retention policy owner", text)));
  const char* name = static_cast<const char*>(linitial(names));
  Oid role = get_role_oid(name, true);
  if (OidIsValid(role)) PG_RETURN_OID(role);
  role = GetUserId();
  ereport(WARNING,
          (errcode(ERRCODE_UNDEFINED_OBJECT),
           errmsg("retention policy owner \"%s\" does not exist; the policy now belongs to role \"%s\"",
                  name, GetUserNameFromId(role, false)),
           errdetail("A restore without the owner role, or with --no-owner, gives its retention "
                     "policies to the restoring role."),
           errhint("A run still requires the policy's owner to own the table. The table's owner "
                   "can take the policy over with retention.alter_policy().")));
  PG_RETURN_OID(role);
}

// The role's name, quoted as an identifier when needed, or the oid in digits
// when no such role exists (as regrole writes it).
extern "C" Datum retention_policy_owner_out(PG_FUNCTION_ARGS) {
  Oid role = PG_GETARG_OID(0);
  char* name = OidIsValid(role) ? GetUserNameFromId(role, true) : nullptr;
  if (name == nullptr)
    PG_RETURN_CSTRING(DatumGetCString(DirectFunctionCall1(oidout, ObjectIdGetDatum(role))));
  PG_RETURN_CSTRING(pstrdup(quote_identifier(name)));
}
