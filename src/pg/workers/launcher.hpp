// launcher.hpp: the cluster-wide "pg_retention launcher" background worker.
// It starts one "pg_retention scheduler" per database that has the extension
// (or may have it: a scheduler that finds none exits and is not started
// again until CREATE EXTENSION says otherwise). It runs only on a primary:
// registered with BgWorkerStart_RecoveryFinished, it starts after promotion.
#pragma once

namespace pg_retention::pg {

void RegisterLauncher();

// True when retention.databases is empty or names the database.
bool DatabaseAllowed(const char* name);

}  // namespace pg_retention::pg
