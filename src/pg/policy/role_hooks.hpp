// role_hooks.hpp: keeps retention.policy.owner in step with role DDL. A
// ProcessUtility hook makes DROP ROLE of a role that owns policies fail as it
// does for owned objects, moves the policies on REASSIGN OWNED and drops them
// on DROP OWNED (see role_hooks.cpp for when each check runs and its limits).
// The same hook lets database-wide commands have their database to
// themselves (database_hold.hpp).
#pragma once

namespace pg_retention::pg {

// Installs the hook, chained to any earlier one. Called once from _PG_init.
void InstallRoleHooks();

}  // namespace pg_retention::pg
