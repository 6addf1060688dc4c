// archive_stage.hpp: the second stage of an archive-mode run (archive_retain,
// issue #11). After the purge stage, under the same policy lock and in the
// same CALL or worker run, archived rows whose archived_at is older than the
// policy's archive_retain are deleted by the same batch engine: a derived
// plan (source = the archive table, expiry = archived_at, delete mode) runs
// batch by batch as the archive table's owner in the sandbox, with the
// batch lock and statement timeouts, the rate limits, the health throttle
// and transient-error retries. It keeps its own run_history row (stage
// 'archive') and counters, and never touches the purge stage's cursor or
// totals. The caller is connected to SPI in non-atomic mode and holds the
// policy's lock; no snapshot is pushed when it is called.
#pragma once

#include <cstdint>

#include "pg/policy/catalog.hpp"

namespace pg_retention::pg {

// Runs the archive stage of the policy when it is due (core/archive_stage).
// max_rows > 0 bounds the rows it removes; follows_schedule: the
// scheduler's kill switch applies (as for the purge stage). A cancel or
// termination is recorded (status interrupted), then re-raised.
void RunArchiveStage(const PolicyRecord* policy, int64_t max_rows, const char* trigger,
                     bool follows_schedule, int progress_slot);

}  // namespace pg_retention::pg
