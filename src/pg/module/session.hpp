// session.hpp: who we run as and with which settings (see SECURITY.md).
// Catalog work runs as the extension's owner with search_path pinned; every
// piece of policy work that can reach user code runs in the sandbox: as the
// table's owner, inside a security-restricted operation, with every setting
// that changes what SQL means pinned. Both restore every setting with abort
// semantics, so nothing user code SETs survives the way out.
#pragma once

#include <cstdint>

#include "pg/module/pg_fwd.hpp"

namespace pg_retention::pg {

struct SavedUser {
  Oid user_id;  // Oid
  int sec_context;
};

Oid ExtensionOwner();

// The installed version of extension pg_retention (palloc'd), or nullptr when
// it is not installed.
char* InstalledExtensionVersion();

// Raises an error unless the installed SQL objects are the version this
// library implements.
void RequireMatchingExtensionVersion();

// Opens a GUC nest level with search_path = pg_catalog, pg_temp; returns the
// level for RestoreSettings. Everything set inside, by us or by code we
// call, is discarded there (and by (sub)transaction abort).
int PinSearchPath();
void RestoreSettings(int nest_level);

// Catalog work: as the extension's owner (users have no rights on the
// catalog), search_path pinned, restored with abort semantics. No user code
// runs inside: the catalog tables have no user triggers.
struct CatalogWork {
  SavedUser saved;
  int nest_level;
};
void BeginCatalogWork(CatalogWork* work);
void EndCatalogWork(const CatalogWork* work);

// Sets, at the current nest level, every setting that changes what SQL text
// means or does (DateStyle, standard_conforming_strings, ...; the list is in
// SECURITY.md) to its pinned value, with search_path = pg_catalog, pg_temp
// and TimeZone = timezone (a policy's; nullptr keeps the current one).
void PinMeaningSettings(const char* timezone);

// The sandbox for user code: a new nest level with the meaning settings
// pinned, then the current user switched to role inside a
// security-restricted operation. EndSandbox undoes both, discarding every
// setting changed inside.
struct Sandbox {
  SavedUser saved;
  int nest_level;
};
void BeginSandbox(Oid role, const char* timezone, Sandbox* sandbox);
void EndSandbox(const Sandbox* sandbox);

// The role that owns the relation now (pg_class.relowner).
Oid RelationOwner(Oid relid);

// True when the current user may manage a policy: it acts as the policy's
// owner, or as the current owner of its table (who can take it over).
bool CurrentUserManages(Oid policy_owner, Oid relid);

// True when role is a superuser or has the privileges of owner.
bool RoleActsAs(Oid role, Oid owner);

// Sets a GUC for the current nest level (like a function's SET clause).
void SetLocalSetting(const char* name, const char* value);

// Switches the current user; restricted adds SECURITY_RESTRICTED_OPERATION.
void BeginRunAs(Oid role, bool restricted, SavedUser* saved);
void EndRunAs(const SavedUser* saved);

// True when the current user is a superuser or has the privileges of role.
bool CurrentUserActsAs(Oid role);

}  // namespace pg_retention::pg
