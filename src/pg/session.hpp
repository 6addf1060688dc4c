// session.hpp: who we run as and with which settings. Catalog work runs as the
// extension's owner; policy work runs as the policy owner inside a security
// restricted operation; both with search_path pinned to pg_catalog, pg_temp.
#pragma once

#include <cstdint>

namespace pg_retention::pg {

struct SavedUser {
  unsigned int user_id;  // Oid
  int sec_context;
};

unsigned int ExtensionOwner();

// The installed version of extension pg_retention (palloc'd), or nullptr when
// it is not installed.
char* InstalledExtensionVersion();

// Raises an error unless the installed SQL objects are the version this
// library implements.
void RequireMatchingExtensionVersion();

// Opens a GUC nest level with search_path = pg_catalog, pg_temp; returns the
// level for RestoreSettings. Everything set inside is undone there (and by
// (sub)transaction abort).
int PinSearchPath();
void RestoreSettings(int nest_level);

// Sets a GUC for the current nest level (like a function's SET clause).
void SetLocalSetting(const char* name, const char* value);

// Switches the current user; restricted adds SECURITY_RESTRICTED_OPERATION.
void BeginRunAs(unsigned int role, bool restricted, SavedUser* saved);
void EndRunAs(const SavedUser* saved);

// True when the current user is a superuser or has the privileges of role.
bool CurrentUserActsAs(unsigned int role);

}  // namespace pg_retention::pg
