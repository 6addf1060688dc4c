// schedule_gate.cpp: see schedule_gate.hpp.
#include "pg/run/schedule_gate.hpp"

#include "pg/module/gucs.hpp"
#include "pg/workers/shared_state.hpp"

extern "C" {
#include "postgres.h"

#include "miscadmin.h"
#include "postmaster/interrupt.h"
#include "utils/guc.h"
}

namespace pg_retention::pg {

bool ScheduledRunsAllowed() {
  if (ConfigReloadPending) {
    ConfigReloadPending = false;
    ProcessConfigFile(PGC_SIGHUP);
  }
  return guc_enabled && !DatabaseHeld(MyDatabaseId);
}

}  // namespace pg_retention::pg
