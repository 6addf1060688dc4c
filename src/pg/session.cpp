// session.cpp: identity and setting switches (see session.hpp).
#include "pg/session.hpp"

#include "core/version.hpp"

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
#include "utils/builtins.h"
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

char* InstalledExtensionVersion() {
  Relation rel = table_open(ExtensionRelationId, AccessShareLock);
  ScanKeyData key;
  ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
              CStringGetDatum("pg_retention"));
  SysScanDesc scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
  HeapTuple tuple = systable_getnext(scan);
  char* version = nullptr;
  if (HeapTupleIsValid(tuple)) {
    bool isnull;
    Datum d = heap_getattr(tuple, Anum_pg_extension_extversion, RelationGetDescr(rel), &isnull);
    if (!isnull) version = TextDatumGetCString(d);
  }
  systable_endscan(scan);
  table_close(rel, AccessShareLock);
  return version;
}

void RequireMatchingExtensionVersion() {
  char* installed = InstalledExtensionVersion();
  if (installed != nullptr && strcmp(installed, core::kExtensionVersion) != 0)
    ereport(ERROR,
            (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
             errmsg("extension pg_retention is installed at version %s, but its library is "
                    "version %s",
                    installed, core::kExtensionVersion),
             errhint("Run ALTER EXTENSION pg_retention UPDATE.")));
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
