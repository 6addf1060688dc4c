// monitoring.cpp: see monitoring.hpp.
#include "core/monitoring.hpp"

#include <algorithm>
#include <cmath>

namespace pg_retention::core {

int64_t BacklogAfterRun(bool complete_pass, bool have_estimate, double estimate) {
  if (complete_pass) return 0;
  if (!have_estimate || !std::isfinite(estimate) || estimate < 0) return kUnknown;
  return static_cast<int64_t>(std::llround(estimate));
}

int64_t EstimateFreeBytes(const FreeSpaceInput& in) {
  if (in.table_bytes < 0) return kUnknown;
  double dead = std::max({in.stats_dead, in.rows_removed, 0.0});
  double live = std::max({in.stats_live, in.reltuples - dead, 0.0});
  double rows = live + dead;
  if (rows <= 0) return 0;
  return static_cast<int64_t>(static_cast<double>(in.table_bytes) * (dead / rows));
}

HistoryPrune PlanHistoryPrune(int64_t now_us, int64_t retention_us, int32_t max_rows,
                              int32_t max_batches) {
  HistoryPrune plan{};
  plan.by_age = retention_us > 0 && now_us > INT64_MIN + retention_us;
  plan.older_than_us = plan.by_age ? now_us - retention_us : 0;
  plan.by_count = max_rows > 0;
  plan.keep_rows = plan.by_count ? max_rows : 0;
  plan.batch_rows = kPruneBatchRows;
  plan.max_batches = max_batches < 1 ? 1 : (max_batches > 1000 ? 1000 : max_batches);
  return plan;
}

bool PruneContinues(const HistoryPrune& plan, int32_t batches_done, int64_t last_batch_rows) {
  if (!plan.by_age && !plan.by_count) return false;
  return last_batch_rows >= plan.batch_rows && batches_done < plan.max_batches;
}

}  // namespace pg_retention::core
