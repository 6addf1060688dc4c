// database_hold.cpp: see database_hold.hpp.
#include "pg/workers/database_hold.hpp"

#include "pg/workers/shared_state.hpp"

extern "C" {
#include "postgres.h"

#include <signal.h>

#include "access/xact.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "pg/pg_compat.h"
}

namespace pg_retention::pg {

namespace {

// How long the scheduler gets to leave by itself (it checks between
// batches and between passes), then how long after SIGTERM. DROP DATABASE
// then waits up to 5 s more for other sessions on its own.
constexpr int kGentleWaitMs = 5000;
constexpr int kTerminateWaitMs = 5000;

bool callback_registered = false;

// Holds end with the transaction that took them.
void ReleaseAtTransactionEnd(XactEvent event, void* arg) {
  if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
      event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
      event == XACT_EVENT_PREPARE)
    ReleaseDatabaseHolds();
}

// The name of an option of a CREATE or ALTER DATABASE statement, or nullptr.
const char* OptionValue(List* options, const char* name) {
  ListCell* lc;
  foreach (lc, options) {
    DefElem* opt = lfirst_node(DefElem, lc);
    if (strcmp(opt->defname, name) == 0 && opt->arg != nullptr) return defGetString(opt);
  }
  return nullptr;
}

// The database a database-wide command needs alone, or nullptr.
const char* TargetDatabase(Node* stmt) {
  switch (nodeTag(stmt)) {
    case T_DropdbStmt: return castNode(DropdbStmt, stmt)->dbname;
    case T_CreatedbStmt:  // without TEMPLATE: template1, which has no scheduler
      return OptionValue(castNode(CreatedbStmt, stmt)->options, "template");
    case T_RenameStmt: {
      RenameStmt* rename = castNode(RenameStmt, stmt);
      return rename->renameType == OBJECT_DATABASE ? rename->subname : nullptr;
    }
    case T_AlterDatabaseStmt: {
      AlterDatabaseStmt* alter = castNode(AlterDatabaseStmt, stmt);
      return OptionValue(alter->options, "tablespace") ? alter->dbname : nullptr;
    }
    default: return nullptr;
  }
}

// Waits up to ms for dbid's scheduler to be gone; true when it is.
bool WaitForSchedulerToLeave(Oid dbid, int ms) {
  TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ms);
  while (SchedulerRegistered(dbid)) {
    if (GetCurrentTimestamp() >= deadline) return false;
    (void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 20,
                     PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
    CHECK_FOR_INTERRUPTS();
  }
  return true;
}

}  // namespace

void HoldDatabaseFor(Node* stmt) {
  if (!SharedStateAvailable()) return;
  const char* name = TargetDatabase(stmt);
  if (name == nullptr) return;
  Oid dbid = get_database_oid(name, true);
  if (!OidIsValid(dbid) || dbid == MyDatabaseId) return;   // PostgreSQL reports these
  if (!pg_database_ownercheck(dbid, GetUserId())) return;  // nor stop anything for others

  if (!callback_registered) {
    RegisterXactCallback(ReleaseAtTransactionEnd, nullptr);
    callback_registered = true;
  }
  int scheduler_pid = HoldDatabase(dbid);
  if (scheduler_pid == 0 || WaitForSchedulerToLeave(dbid, kGentleWaitMs)) return;
  ereport(LOG, (errmsg("terminating the pg_retention scheduler of database \"%s\" for a "
                       "database-wide command",
                       name)));
  scheduler_pid = HoldDatabase(dbid);  // still the same one, if any
  if (scheduler_pid != 0) (void) kill(scheduler_pid, SIGTERM);
  (void) WaitForSchedulerToLeave(dbid, kTerminateWaitMs);
}

}  // namespace pg_retention::pg
