// batch_sizer.hpp: the adaptive batch size. When a policy fixes no
// batch_size, the engine sizes each batch toward a target duration
// (retention.target_batch_time): it keeps a smoothed estimate of the cost of
// one row and asks for target / cost rows, moving at most by a factor per
// step so that a single slow or fast batch cannot swing it, and within
// [min, max]. A batch that hit a lock or statement timeout halves the size.
// Pure value types: the engine keeps a BatchSizerState between batches.
#pragma once
#include "core/wall.hpp"

#include <cstdint>

namespace pg_retention::core {

struct BatchSizerSettings {
  int64_t target_us = 200000;  // wanted duration of one batch
  int64_t min_rows = 100;
  int64_t max_rows = 100000;
  double max_step = 2.0;       // largest growth or shrink factor per batch
  double smoothing = 0.5;      // weight of the newest observation in the cost estimate
};

struct BatchSizerState {
  int64_t rows = 0;              // size of the next batch
  double cost_us_per_row = 0.0;  // smoothed; 0 until the first observation
};

// The first batch: `initial` clamped to the bounds.
BatchSizerState StartBatchSizer(const BatchSizerSettings& s, int64_t initial);

// What a batch did: it asked for `limit` rows and visited `visited` of them
// (candidates picked, or keys in its range) in `elapsed_us`. A batch near the
// end of a walk visits fewer rows than it asked for; its cost per row is
// elapsed / visited, never elapsed / limit.
struct BatchObservation {
  int64_t limit = 0;
  int64_t visited = 0;
  int64_t elapsed_us = 0;
};

// After a batch: learns the cost per row from the rows it visited. A batch
// that visited nothing teaches nothing.
BatchSizerState AfterBatch(const BatchSizerSettings& s, const BatchSizerState& state,
                           const BatchObservation& seen);

// After a batch that timed out (lock or statement timeout) and was rolled back.
BatchSizerState AfterTimeout(const BatchSizerSettings& s, const BatchSizerState& state);

}  // namespace pg_retention::core
