// session.cpp: identity and setting switches (see session.hpp).
#include "pg/session.hpp"

extern "C" {
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/genam.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/rel.h"
}

namespace pg_retention::pg {

unsigned int ExtensionOwner() {
  Oid ext_oid = get_extension_oid("pg_retention", false);
  Relation rel = table_open(ExtensionRelationId, AccessShareLock);
  ScanKeyData key;
  ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
              ObjectIdGetDatum(ext_oid));
  SysScanDesc scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
  HeapTuple tuple = systable_getnext(scan);
  if (!HeapTupleIsValid(tuple))
    elog(ERROR, "could not find extension pg_retention");
  Oid owner = ((Form_pg_extension) GETSTRUCT(tuple))->extowner;
  systable_endscan(scan);
  table_close(rel, AccessShareLock);
  return owner;
}

int PinSearchPath() {
  int nest = NewGUCNestLevel();
  SetLocalSetting("search_path", "pg_catalog, pg_temp");
  return nest;
}

void RestoreSettings(int nest_level) { AtEOXact_GUC(true, nest_level); }

void SetLocalSetting(const char* name, const char* value) {
  (void) set_config_option(name, value, PGC_SUSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0,
                           false);
}

void BeginRunAs(unsigned int role, bool restricted, SavedUser* saved) {
  Oid user;
  int sec;
  GetUserIdAndSecContext(&user, &sec);
  saved->user_id = user;
  saved->sec_context = sec;
  int flags = sec | SECURITY_LOCAL_USERID_CHANGE;
  if (restricted) flags |= SECURITY_RESTRICTED_OPERATION;
  SetUserIdAndSecContext(role, flags);
}

void EndRunAs(const SavedUser* saved) {
  SetUserIdAndSecContext(saved->user_id, saved->sec_context);
}

bool CurrentUserActsAs(unsigned int role) {
  return superuser() || has_privs_of_role(GetUserId(), role);
}

}  // namespace pg_retention::pg
