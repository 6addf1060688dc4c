// module.cpp: the module's entry point. Defines the retention.* settings and
// reserves the prefix. The background worker (issue #3) registers here too.
#include "core/policy_model.hpp"
#include "pg/gucs.hpp"

#include <climits>

extern "C" {
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"
}

extern "C" {
PG_MODULE_MAGIC;
PGDLLEXPORT void _PG_init(void);
}

namespace pg_retention::pg {

int guc_lock_timeout_ms = 1000;
int guc_statement_timeout_ms = 30000;
int guc_default_batch_size = core::kDefaultBatchSize;
int guc_max_batch_retries = 3;

}  // namespace pg_retention::pg

using namespace pg_retention::pg;

void _PG_init(void) {
  DefineCustomIntVariable(
      "retention.lock_timeout",
      "Longest wait for a lock by one retention batch.",
      "A batch that waits longer rolls back and is retried after a pause. 0 disables the bound.",
      &guc_lock_timeout_ms, 1000, 0, INT_MAX, PGC_SUSET, GUC_UNIT_MS, NULL, NULL, NULL);

  DefineCustomIntVariable(
      "retention.statement_timeout",
      "Longest run time of one retention batch.",
      "A batch that runs longer is cancelled, rolls back and is retried after a pause. 0 disables the bound.",
      &guc_statement_timeout_ms, 30000, 0, INT_MAX, PGC_SUSET, GUC_UNIT_MS, NULL, NULL, NULL);

  DefineCustomIntVariable(
      "retention.default_batch_size",
      "Rows per batch for policies that do not set batch_size.",
      NULL,
      &guc_default_batch_size, pg_retention::core::kDefaultBatchSize, 1, 1000000, PGC_SUSET, 0,
      NULL, NULL, NULL);

  DefineCustomIntVariable(
      "retention.max_batch_retries",
      "How often a run retries a batch that hit a lock or statement timeout.",
      "After this many consecutive failures the run stops with status \"error\".",
      &guc_max_batch_retries, 3, 0, 100, PGC_SUSET, 0, NULL, NULL, NULL);

  MarkGUCPrefixReserved("retention");
}
