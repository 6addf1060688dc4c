// session.cpp: identity and setting switches (see session.hpp).
#include "pg/module/session.hpp"

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
#include "utils/syscache.h"
#include "catalog/pg_class.h"
}

namespace pg_retention::pg {

Oid ExtensionOwner() {
  Oid ext_oid = get_extension_oid("pg_retention", false);
  Relation rel = table_open(ExtensionRelationId, AccessShareLock);
  ScanKeyData key;
  ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
              ObjectIdGetDatum(ext_oid));
  SysScanDesc scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
  HeapTuple tuple = systable_getnext(scan);
  if (!HeapTupleIsValid(tuple)) elog(ERROR, "could not find extension pg_retention");
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
    ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
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

// Abort semantics: a SET made inside by user code is discarded, as
// PostgreSQL's own security-restricted operations discard it.
void RestoreSettings(int nest_level) { AtEOXact_GUC(false, nest_level); }

namespace {

// Every setting whose value changes what a stored expression, a trigger or
// a default means, with the value the sandbox pins (see SECURITY.md).
struct PinnedSetting {
  const char* name;
  const char* value;
};
constexpr PinnedSetting kPinnedSettings[] = {
    {"search_path", "pg_catalog, pg_temp"},
    {"DateStyle", "ISO, MDY"},
    {"IntervalStyle", "postgres"},
    {"standard_conforming_strings", "on"},
    {"extra_float_digits", "1"},
    {"bytea_output", "hex"},
    {"xmloption", "content"},
    {"array_nulls", "on"},
    {"backslash_quote", "safe_encoding"},
    {"escape_string_warning", "on"},
    {"default_transaction_read_only", "off"},
    {"session_replication_role", "origin"},
    {"row_security", "on"},
    {"lc_monetary", "C"},
    {"lc_numeric", "C"},
    {"lc_time", "C"},
    {"default_text_search_config", "pg_catalog.simple"},
    {"check_function_bodies", "on"},
    {"transform_null_equals", "off"},
};

}  // namespace

void PinMeaningSettings(const char* timezone) {
  for (const PinnedSetting& s : kPinnedSettings) SetLocalSetting(s.name, s.value);
  if (timezone != nullptr) SetLocalSetting("TimeZone", timezone);
}

void BeginCatalogWork(CatalogWork* work) {
  work->nest_level = PinSearchPath();
  BeginRunAs(ExtensionOwner(), false, &work->saved);
}

void EndCatalogWork(const CatalogWork* work) {
  EndRunAs(&work->saved);
  RestoreSettings(work->nest_level);
}

void BeginSandbox(Oid role, const char* timezone, Sandbox* sandbox) {
  sandbox->nest_level = NewGUCNestLevel();
  PinMeaningSettings(timezone);
  BeginRunAs(role, true, &sandbox->saved);
}

void EndSandbox(const Sandbox* sandbox) {
  EndRunAs(&sandbox->saved);
  RestoreSettings(sandbox->nest_level);
}

namespace {

// pg_class.relowner, or InvalidOid when the relation is gone.
Oid RelationOwnerOrInvalid(Oid relid) {
  HeapTuple tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
  if (!HeapTupleIsValid(tup)) return InvalidOid;
  Oid owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
  ReleaseSysCache(tup);
  return owner;
}

}  // namespace

Oid RelationOwner(Oid relid) {
  Oid owner = RelationOwnerOrInvalid(relid);
  if (!OidIsValid(owner))
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
                    errmsg("relation with OID %u does not exist", relid)));
  return owner;
}

bool CurrentUserManages(Oid policy_owner, Oid relid) {
  if (CurrentUserActsAs(policy_owner)) return true;
  Oid owner = RelationOwnerOrInvalid(relid);
  return OidIsValid(owner) && CurrentUserActsAs(owner);
}

bool RoleActsAs(Oid role, Oid owner) {
  return superuser_arg(role) || has_privs_of_role(role, owner);
}

void SetLocalSetting(const char* name, const char* value) {
  (void) set_config_option(name, value, PGC_SUSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
}

void BeginRunAs(Oid role, bool restricted, SavedUser* saved) {
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

bool CurrentUserActsAs(Oid role) { return superuser() || has_privs_of_role(GetUserId(), role); }

}  // namespace pg_retention::pg
