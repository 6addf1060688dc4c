// run_rules.cpp: see run_rules.hpp.
#include "core/run_rules.hpp"

#include <algorithm>
#include <cmath>

namespace pg_retention::core {

namespace {

// Rows visited per second that should remove about rows_per_second rows.
int64_t RateCap(const BatchLimitInput& in) {
  const double share = in.visited_so_far > 0
                           ? static_cast<double>(in.removed_so_far) /
                                 static_cast<double>(in.visited_so_far)
                           : 1.0;
  if (share <= 0.0) return 0;  // nothing removed yet: no cap but the size
  const double cap = std::ceil(static_cast<double>(in.rows_per_second) / std::min(share, 1.0));
  if (cap >= 9.0e18) return 0;
  return static_cast<int64_t>(cap);
}

}  // namespace

BatchLimit ComposeBatchLimit(const BatchLimitInput& in) {
  BatchLimit out;
  out.rows = std::max<int64_t>(1, in.size);
  if (in.max_rows > 0) {
    const int64_t left = in.max_rows - in.removed_so_far;
    if (left <= 0) {
      out.rows = 0;
      out.stop = true;
      return out;
    }
    out.rows = std::min(out.rows, left);
  }
  if (in.rows_per_second > 0) {
    const int64_t cap = RateCap(in);
    if (cap > 0) out.rows = std::min(out.rows, std::max<int64_t>(1, cap));
  }
  return out;
}

bool ShouldRetry(bool transient, int failures_so_far, int max_retries) {
  return transient && failures_so_far < max_retries;
}

int64_t NextLookAfterSkip(int64_t now_us, int64_t schedule_us) {
  const int64_t wait = schedule_us > 0 ? std::min(schedule_us, kSkipLookAgainUs) : kSkipLookAgainUs;
  return now_us + wait;
}

bool ShouldAnalyzeAfterRun(const AnalyzeInput& in) {
  if (in.run_failed || in.threshold <= 0.0 || in.reltuples_before <= 0.0) return false;
  if (static_cast<double>(in.rows_removed) < in.threshold * in.reltuples_before) return false;
  return !in.autovacuum_on || in.autovacuum_busy;
}

}  // namespace pg_retention::core
