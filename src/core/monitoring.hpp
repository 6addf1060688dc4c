// monitoring.hpp: the decisions behind retention.status' monitoring figures
// and history capping: how many purgeable rows a run left, the table's free
// space when pgstattuple is not installed, and what one history prune batch
// removes. Plain values in, plain values out; nothing here reads a clock.
#pragma once
#include "core/wall.hpp"

#include <cstdint>

namespace pg_retention::core {

constexpr int64_t kUnknown = -1;

// Rows a run left purgeable at its cutoff: 0 after a complete pass (the run
// ended ok), otherwise the planner's estimate rounded (kUnknown without one).
int64_t BacklogAfterRun(bool complete_pass, bool have_estimate, double estimate);

// Free space estimate: the dead rows' share of the table. Dead rows are the
// statistics' count, or at least the rows the run removed (the statistics
// may not have them yet); live rows the statistics' count, or at least
// reltuples less those dead rows. Negative counts mean unknown. kUnknown when
// the size is unknown (negative).
struct FreeSpaceInput {
  int64_t table_bytes;
  double stats_live;   // n_live_tup
  double stats_dead;   // n_dead_tup
  double reltuples;    // pg_class.reltuples (-1: never analyzed)
  double rows_removed; // by the run that just ended
};
int64_t EstimateFreeBytes(const FreeSpaceInput& in);

// One prune batch of the run history.
struct HistoryPrune {
  bool by_age;            // remove rows that finished before older_than_us
  int64_t older_than_us;
  bool by_count;          // keep only the newest keep_rows rows of each policy
  int32_t keep_rows;
  int32_t batch_rows;     // at most this many rows per batch (one transaction)
  int32_t max_batches;    // and at most this many batches per pass
};

constexpr int32_t kPruneBatchRows = 1000;

// retention_us <= 0 keeps history of any age; max_rows <= 0 any number of
// rows; max_batches is clamped to [1, 1000].
HistoryPrune PlanHistoryPrune(int64_t now_us, int64_t retention_us, int32_t max_rows,
                              int32_t max_batches);

// Whether another batch is worth running: the last one was full, and the
// pass has batches left.
bool PruneContinues(const HistoryPrune& plan, int32_t batches_done, int64_t last_batch_rows);

}  // namespace pg_retention::core
