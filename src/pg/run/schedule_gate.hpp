// schedule_gate.hpp: whether runs that follow the schedule may start now in
// this database. One answer for the background scheduler and for CALL
// retention.run_due(), so that pg_cron (or cron + psql) as the clock starts
// exactly what the scheduler would.
#pragma once

namespace pg_retention::pg {

// True when the kill switch retention.enabled is on and no database-wide
// command (DROP DATABASE, CREATE DATABASE ... TEMPLATE, ...) waits for this
// database. Rereads the configuration file first when a reload was signalled.
bool ScheduledRunsAllowed();

}  // namespace pg_retention::pg
