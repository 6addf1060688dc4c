// run_metrics.hpp: what a run records for monitoring when it ends (see
// retention.status): the purgeable rows it left (0 after a complete pass,
// else the planner's estimate of the preview query, planned as the table's
// owner in the sandbox), the table's free space (pgstattuple_approx when that
// extension is installed, else an estimate from the statistics), and the
// policy's counters and last complete pass.
#pragma once

#include <cstdint>

#include "pg/run/batch_executor.hpp"

namespace pg_retention::pg {

// After RecordTableState(after) and RecordRunOutcome, in the run's last
// transaction. plan may be nullptr (the run failed before it had one). A
// failed estimate is left unknown (NULL); it never fails the run.
void RecordRunMetrics(RunPlan* plan, const PolicyRecord* policy, int64_t run_id,
                      bool complete_pass, bool failed, int64_t started_at);

}  // namespace pg_retention::pg
