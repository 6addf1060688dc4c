// health.cpp: see health.hpp.
#include "pg/health.hpp"

#include <string>

#include "core/throttle.hpp"
#include "pg/guard.hpp"
#include "pg/gucs.hpp"
#include "pg/session.hpp"

extern "C" {
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
}

namespace pg_retention::pg {

namespace {

struct Readings {
  int64 lag_bytes;
  int64 lag_us;
  int64 archive_backlog;
  bool autovacuum;
};

// One query for all signals; each part is skipped when its bound is off.
Readings Read(Oid relid) {
  Oid types[4] = {OIDOID, BOOLOID, BOOLOID, BOOLOID};
  Datum values[4] = {ObjectIdGetDatum(relid),
                     BoolGetDatum(guc_max_replication_lag_kb > 0 ||
                                  guc_max_replication_delay_ms > 0),
                     BoolGetDatum(guc_max_archive_backlog > 0),
                     BoolGetDatum(guc_pause_for_autovacuum)};
  SavedUser saved;
  int nest = PinSearchPath();
  BeginRunAs(ExtensionOwner(), false, &saved);
  int rc = SPI_execute_with_args(
      "SELECT CASE WHEN $2 THEN (SELECT max(pg_wal_lsn_diff(pg_current_wal_lsn(), r.replay_lsn))"
      "                            FROM pg_stat_replication r"
      "                           WHERE r.state = 'streaming')::int8 END,"
      "       CASE WHEN $2 THEN (SELECT (extract(epoch FROM max(r.replay_lag)) * 1000000)::int8"
      "                            FROM pg_stat_replication r"
      "                           WHERE r.state = 'streaming') END,"
      "       CASE WHEN $3 THEN (SELECT count(*) FROM pg_ls_archive_statusdir() s"
      "                           WHERE s.name LIKE '%.ready') ELSE 0 END,"
      "       $4 AND EXISTS (SELECT 1 FROM pg_stat_progress_vacuum v"
      "                        JOIN pg_stat_activity a ON a.pid = v.pid"
      "                       WHERE v.relid = $1 AND a.backend_type = 'autovacuum worker')",
      4, types, values, NULL, false, 1);
  EndRunAs(&saved);
  RestoreSettings(nest);
  if (rc != SPI_OK_SELECT || SPI_processed != 1)
    elog(ERROR, "could not read the health signals: %s", SPI_result_code_string(rc));
  Readings r;
  bool isnull;
  HeapTuple tup = SPI_tuptable->vals[0];
  TupleDesc desc = SPI_tuptable->tupdesc;
  Datum d = SPI_getbinval(tup, desc, 1, &isnull);
  r.lag_bytes = isnull ? -1 : DatumGetInt64(d);
  d = SPI_getbinval(tup, desc, 2, &isnull);
  r.lag_us = isnull ? -1 : DatumGetInt64(d);
  r.archive_backlog = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
  r.autovacuum = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));
  SPI_freetuptable(SPI_tuptable);
  return r;
}

}  // namespace

char* ThrottleReasonNow(unsigned int relid) {
  Readings r = Read(relid);
  CoreError err;
  char* reason = nullptr;
  if (!CallCore(&err, [&]() {
        core::HealthBounds b;
        b.max_replication_lag_bytes = static_cast<int64_t>(guc_max_replication_lag_kb) * 1024;
        b.max_replication_lag_us = static_cast<int64_t>(guc_max_replication_delay_ms) * 1000;
        b.max_archive_backlog = guc_max_archive_backlog;
        b.pause_for_autovacuum = guc_pause_for_autovacuum;
        core::HealthSignals s;
        s.replication_lag_bytes = r.lag_bytes;
        s.replication_lag_us = r.lag_us;
        s.archive_backlog = r.archive_backlog;
        s.autovacuum_on_table = r.autovacuum;
        std::string why = core::ThrottleReason(b, s);
        if (!why.empty()) reason = CoreStrdup(why);
        return core::Status::Ok();
      }))
    RaiseCoreError(&err);
  return reason ? TakeCoreString(reason) : nullptr;
}

}  // namespace pg_retention::pg
