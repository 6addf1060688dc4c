// health.cpp: see health.hpp.
#include "pg/run/health.hpp"

#include <string>

#include "core/throttle.hpp"
#include "pg/module/guard.hpp"
#include "pg/module/gucs.hpp"
#include "pg/module/session.hpp"

extern "C" {
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
}

namespace pg_retention::pg {

namespace {

struct Readings {
  int64 lag_bytes;
  int64 lag_us;
  int64 archive_backlog;
  bool autovacuum;
  int64 horizon_age_us;  // -1: nothing holds the horizon (or the report is off)
  int32 horizon_pid;
  char* horizon_state;   // nullptr when unknown
  char* horizon_gid;     // nullptr unless a prepared transaction
};

char* TextOrNull(HeapTuple tup, TupleDesc desc, int col) {
  bool isnull;
  Datum d = SPI_getbinval(tup, desc, col, &isnull);
  return isnull ? nullptr : TextDatumGetCString(d);
}

// One query for all signals; each part is skipped when its bound is off.
Readings Read(Oid relid) {
  Oid types[5] = {OIDOID, BOOLOID, BOOLOID, BOOLOID, BOOLOID};
  Datum values[5] = {ObjectIdGetDatum(relid),
                     BoolGetDatum(guc_max_replication_lag_kb > 0 ||
                                  guc_max_replication_delay_ms > 0),
                     BoolGetDatum(guc_max_archive_backlog > 0),
                     BoolGetDatum(guc_pause_for_autovacuum),
                     BoolGetDatum(guc_xmin_horizon_warning_ms > 0)};
  CatalogWork work;
  BeginCatalogWork(&work);
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
      "                       WHERE v.relid = $1 AND a.backend_type = 'autovacuum worker'),"
      "       h.age_us, h.pid, h.state, h.gid"
      "  FROM (SELECT 1) AS one"
      "  LEFT JOIN LATERAL ("
      // Transactions of this database with an xmin or an xid (autovacuum's
      // does not hold the horizon back), and prepared transactions.
      "        SELECT (extract(epoch FROM clock_timestamp() - a.xact_start) * 1000000)::int8"
      "                 AS age_us, a.pid, a.state, NULL::text AS gid"
      "          FROM pg_stat_activity a"
      "         WHERE $5 AND a.datname = current_database()"
      "           AND a.pid <> pg_backend_pid() AND a.xact_start IS NOT NULL"
      "           AND (a.backend_xmin IS NOT NULL OR a.backend_xid IS NOT NULL)"
      "           AND a.backend_type <> 'autovacuum worker'"
      "        UNION ALL"
      "        SELECT (extract(epoch FROM clock_timestamp() - x.prepared) * 1000000)::int8,"
      "               NULL, NULL, x.gid"
      "          FROM pg_prepared_xacts x"
      "         WHERE $5 AND x.database = current_database()"
      "         ORDER BY 1 DESC LIMIT 1) AS h ON true",
      5, types, values, NULL, false, 1);
  EndCatalogWork(&work);
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
  d = SPI_getbinval(tup, desc, 5, &isnull);
  r.horizon_age_us = isnull ? -1 : DatumGetInt64(d);
  d = SPI_getbinval(tup, desc, 6, &isnull);
  r.horizon_pid = isnull ? 0 : DatumGetInt32(d);
  r.horizon_state = TextOrNull(tup, desc, 7);
  r.horizon_gid = TextOrNull(tup, desc, 8);
  SPI_freetuptable(SPI_tuptable);
  return r;
}

// The health settings as plain values, read before the guard.
struct Bounds {
  int64_t max_replication_lag_kb;
  int64_t max_replication_delay_ms;
  int64_t max_archive_backlog;
  bool pause_for_autovacuum;
  int64_t xmin_horizon_warning_ms;
};

Bounds SettingsNow() {
  return Bounds{guc_max_replication_lag_kb, guc_max_replication_delay_ms, guc_max_archive_backlog,
                guc_pause_for_autovacuum, guc_xmin_horizon_warning_ms};
}

}  // namespace

HealthReport CheckHealth(Oid relid) {
  Readings r = Read(relid);
  CoreError err;
  char* reason = nullptr;
  char* warning = nullptr;
  Bounds bounds = SettingsNow();  // before the guard
  if (!CallCore(&err, [](const Readings& rd, const Bounds& bd, char** reason_out,
                         char** warning_out) {
        core::HealthBounds b;
        b.max_replication_lag_bytes = bd.max_replication_lag_kb * 1024;
        b.max_replication_lag_us = bd.max_replication_delay_ms * 1000;
        b.max_archive_backlog = bd.max_archive_backlog;
        b.pause_for_autovacuum = bd.pause_for_autovacuum;
        core::HealthSignals s;
        s.replication_lag_bytes = rd.lag_bytes;
        s.replication_lag_us = rd.lag_us;
        s.archive_backlog = rd.archive_backlog;
        s.autovacuum_on_table = rd.autovacuum;
        std::string why = core::ThrottleReason(b, s);
        if (!why.empty()) *reason_out = CoreStrdup(why);
        core::HorizonHolder h;
        h.age_us = rd.horizon_age_us;
        h.pid = rd.horizon_pid;
        if (rd.horizon_state) h.state = rd.horizon_state;
        if (rd.horizon_gid) h.prepared_gid = rd.horizon_gid;
        std::string note = core::HorizonWarning(bd.xmin_horizon_warning_ms * 1000, h);
        if (!note.empty()) *warning_out = CoreStrdup(note);
        return core::Status::Ok();
      }, r, bounds, &reason, &warning))
    RaiseCoreError(&err);
  HealthReport report;
  report.check_every_batch = r.lag_bytes >= 0 || r.lag_us >= 0;
  report.throttle_reason = reason ? TakeCoreString(reason) : nullptr;
  report.horizon_warning = warning ? TakeCoreString(warning) : nullptr;
  return report;
}

}  // namespace pg_retention::pg
