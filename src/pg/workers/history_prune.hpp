// history_prune.hpp: the run history caps itself. Runs past
// retention.history_retention, and beyond retention.history_max_rows per
// policy, are removed in batches of core::kPruneBatchRows, never a run still
// going nor the latest run a policy's state points to.
#pragma once

#include <cstdint>

namespace pg_retention::pg {

// The scheduler's step (outside any transaction): at most once per minute
// (or ten naptimes, if shorter), up to 10 batches, one transaction each.
void PruneHistoryStep();

}  // namespace pg_retention::pg
