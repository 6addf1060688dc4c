// run_engine.hpp: one run of one policy, batch by batch, each batch its own
// committed transaction. Used by CALL retention.run() and (issue #3) the
// background worker. The caller is connected to SPI in non-atomic mode.
#pragma once

#include <cstdint>

namespace pg_retention::pg {

enum class RunStatus { kOk, kPartial, kSkipped, kError };

const char* RunStatusName(RunStatus status);

struct RunTotals {
  int64_t rows_deleted;
  int64_t rows_archived;
  int32_t batches;
  RunStatus status;
};

// Runs the named policy. max_rows <= 0 means no limit. trigger is what the
// run history records (core/run_trigger: manual, worker, pg_cron, run_due).
// A run that follows the schedule (the scheduler, run_due) stops between
// batches when the kill switch is off, and a policy found running elsewhere
// is looked at again later. Batch failures are recorded in the run history
// and end the run with kError; a cancel or shutdown is recorded, then
// re-raised.
// A batch error worth another try: a lock timeout, deadlock or serialization
// failure.
bool IsTransient(int sqlerrcode);

// How long to wait before retry number failures (core/backoff, with jitter).
int64_t BackoffMs(int failures);

RunTotals RunPolicy(const char* name, int64_t max_rows, const char* trigger,
                    bool follows_schedule);

}  // namespace pg_retention::pg
