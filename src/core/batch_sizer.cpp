// batch_sizer.cpp: see batch_sizer.hpp.
#include "core/batch_sizer.hpp"

#include <algorithm>
#include <cmath>

namespace pg_retention::core {

namespace {

int64_t Clamp(const BatchSizerSettings& s, double rows) {
  const int64_t lo = std::max<int64_t>(1, s.min_rows);
  const int64_t hi = std::max(lo, s.max_rows);
  if (!(rows >= static_cast<double>(lo))) return lo;  // also NaN
  if (rows >= static_cast<double>(hi)) return hi;
  return static_cast<int64_t>(std::llround(rows));
}

}  // namespace

BatchSizerState StartBatchSizer(const BatchSizerSettings& s, int64_t initial) {
  BatchSizerState state;
  state.rows = Clamp(s, static_cast<double>(initial));
  return state;
}

BatchSizerState AfterBatch(const BatchSizerSettings& s, const BatchSizerState& state,
                           const BatchObservation& seen) {
  BatchSizerState next = state;
  const int64_t rows = seen.visited;
  const int64_t elapsed_us = seen.elapsed_us;
  if (rows <= 0 || elapsed_us < 0) return next;
  const double observed = static_cast<double>(std::max<int64_t>(elapsed_us, 1)) /
                          static_cast<double>(rows);
  const double w = std::clamp(s.smoothing, 0.0, 1.0);
  next.cost_us_per_row =
      state.cost_us_per_row > 0 ? w * observed + (1.0 - w) * state.cost_us_per_row : observed;

  const double ideal = static_cast<double>(s.target_us) / next.cost_us_per_row;
  const double step = std::max(1.0, s.max_step);
  const double current = static_cast<double>(std::max<int64_t>(state.rows, 1));
  const double bounded = std::clamp(ideal, current / step, current * step);
  next.rows = Clamp(s, bounded);
  return next;
}

BatchSizerState AfterTimeout(const BatchSizerSettings& s, const BatchSizerState& state) {
  BatchSizerState next = state;
  next.rows = Clamp(s, static_cast<double>(state.rows) / 2.0);
  // What we knew about the cost no longer holds: learn again from here.
  next.cost_us_per_row = 0.0;
  return next;
}

}  // namespace pg_retention::core
