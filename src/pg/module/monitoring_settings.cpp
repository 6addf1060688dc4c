// monitoring_settings.cpp: defines the history capping and repack advice
// settings (see monitoring_settings.hpp). The history settings are
// PGC_SIGHUP: no session may shorten everybody's history for itself. The
// repack threshold only changes what the reader's retention.status says.
#include "pg/module/monitoring_settings.hpp"

#include <climits>

extern "C" {
#include "postgres.h"

#include "utils/guc.h"
}

namespace pg_retention::pg {

int guc_history_retention_s = 30 * 24 * 3600;
int guc_history_max_rows = 10000;
int guc_repack_advice_kb = 128 * 1024;

void DefineMonitoringSettings() {
  DefineCustomIntVariable(
      "retention.history_retention",
      "How long the run history keeps a run.",
      "The scheduler removes older runs in small batches (retention.prune_history() does it "
      "by hand). 0 keeps runs of any age.",
      &guc_history_retention_s, 30 * 24 * 3600, 0, INT_MAX, PGC_SIGHUP, GUC_UNIT_S, NULL, NULL,
      NULL);

  DefineCustomIntVariable(
      "retention.history_max_rows",
      "How many runs the run history keeps per policy.",
      "Older runs beyond this number are removed with those past retention.history_retention. "
      "0 means no limit.",
      &guc_history_max_rows, 10000, 0, INT_MAX, PGC_SIGHUP, 0, NULL, NULL, NULL);

  DefineCustomIntVariable(
      "retention.repack_advice_threshold",
      "Free space after a run at which retention.status advises a repack of the table.",
      "0 turns the advice off.",
      &guc_repack_advice_kb, 128 * 1024, 0, INT_MAX, PGC_USERSET, GUC_UNIT_KB, NULL, NULL,
      NULL);
}

}  // namespace pg_retention::pg
