// health.hpp: the health throttle's readings. Before each batch the engine
// calls CheckHealth(); while it returns a throttle reason, the run waits (no
// snapshot held) and shows the reason in retention.status. It also names the
// oldest transaction holding back the xmin horizon, which is reported, not
// waited for. The decisions themselves are core/throttle.cpp.
#pragma once

// PostgreSQL's Oid (postgres_ext.h), repeated so that this header needs no
// server header; a repeated identical typedef is legal.
typedef unsigned int Oid;

namespace pg_retention::pg {

struct HealthReport {
  char* throttle_reason;   // palloc'd reason to wait, nullptr when the batch may go
  char* horizon_warning;   // palloc'd, nullptr when nothing has held the horizon too long
  // A streaming standby is watched for lag: the next batch must look again,
  // since one batch's WAL can carry the lag past its bound.
  bool check_every_batch;
};

// Reads pg_stat_replication, the archiver's status directory,
// pg_stat_progress_vacuum, pg_stat_activity and pg_prepared_xacts as the
// extension owner, in one statement.
HealthReport CheckHealth(Oid relid);

}  // namespace pg_retention::pg
