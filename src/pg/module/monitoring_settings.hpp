// monitoring_settings.hpp: the settings of history capping and repack advice
// (retention.history_retention, retention.history_max_rows,
// retention.repack_advice_threshold), defined from _PG_init.
#pragma once

namespace pg_retention::pg {

extern int guc_history_retention_s;     // retention.history_retention, 0: keep
extern int guc_history_max_rows;        // retention.history_max_rows, 0: no cap
extern int guc_repack_advice_kb;        // retention.repack_advice_threshold, 0: off

void DefineMonitoringSettings();

}  // namespace pg_retention::pg
