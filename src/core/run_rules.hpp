// run_rules.hpp: the run engine's decisions that are not about sizing or
// walking: how big the next batch may be (the size, the run's max_rows and
// the policy's rate limit composed), whether a failed batch is tried again,
// when a worker looks again at a policy that another session is running,
// and whether the run ends with an ANALYZE. Plain values in, plain values
// out; the server executes what these decide (src/pg/run/run_engine.cpp).
#pragma once
#include "core/wall.hpp"

#include <cstdint>

namespace pg_retention::core {

struct BatchLimitInput {
  int64_t size = 0;             // the sizer's next size, or the policy's fixed one
  int64_t max_rows = 0;         // the run's max_rows; <= 0: no limit
  int64_t rows_per_second = 0;  // the policy's max_rows_per_second; <= 0: none
  int64_t removed_so_far = 0;   // rows this run removed so far
  int64_t visited_so_far = 0;   // rows its batches visited so far
};

struct BatchLimit {
  int64_t rows = 0;   // LIMIT of the next batch (>= 1 unless stop)
  bool stop = false;  // max_rows reached: the run ends as partial
};

// The next batch's limit. max_rows counts rows removed. A rate limit caps a
// batch at about one second's worth of rows REMOVED: the cap on rows visited
// is the rate divided by the share of visited rows that were removed so far
// (all of them before the first batch), so a walk over a table with little
// to purge goes at scan speed.
BatchLimit ComposeBatchLimit(const BatchLimitInput& in);

// After a failed, rolled-back batch: try it again when the failure is one
// that passes (lock or statement timeout, deadlock, serialization) and the
// consecutive failures so far are under max_retries.
bool ShouldRetry(bool transient, int failures_so_far, int max_retries);

// A worker that found the policy already running looks again after a
// minute, or after one schedule interval when that is shorter.
int64_t NextLookAfterSkip(int64_t now_us, int64_t schedule_us);

constexpr int64_t kSkipLookAgainUs = 60LL * 1000 * 1000;

struct AnalyzeInput {
  double threshold = 0.2;        // retention.analyze_threshold; 0: never
  double reltuples_before = 0;   // pg_class.reltuples when the run started
  int64_t rows_removed = 0;
  bool run_failed = false;
  bool autovacuum_on = true;     // autovacuum and track_counts on, not off for the table
  bool autovacuum_busy = false;  // every autovacuum worker is taken
};

// ANALYZE after the run only when it removed at least threshold of the table
// and autovacuum will not do it soon: it is off (globally, for the table, or
// without statistics to go by) or all its workers are busy. Otherwise the
// run's published statistics hand the table to autovacuum.
bool ShouldAnalyzeAfterRun(const AnalyzeInput& in);

}  // namespace pg_retention::core
