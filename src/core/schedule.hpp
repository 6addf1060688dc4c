// schedule.hpp: when a policy runs next. A run that ended well is followed
// one schedule interval after it started; a run that failed is retried with
// exponential backoff (with jitter) counted from when it finished, never later
// than a regular run would have come; a run that ended well but stopped early
// with work left (partial: max_rows, max_runtime) is due again at once. Times are microseconds on
// any common clock (the server passes TimestampTz values); nothing here reads a clock.
#pragma once
#include "core/wall.hpp"

#include <cstdint>

namespace pg_retention::core {

struct ScheduleInput {
  int64_t started_at_us;     // start of the run that just ended
  int64_t finished_at_us;    // its end
  int64_t schedule_us;       // the policy's schedule interval
  int consecutive_failures;  // including the run that just ended
  double unit_random;        // in [0, 1), for jitter
  bool partial = false;      // it stopped early with work left
};

constexpr int64_t kRetryBaseUs = 10LL * 1000 * 1000;      // 10 s after the first failure
constexpr int64_t kRetryCapUs = 60LL * 60 * 1000 * 1000;  // and never more than an hour

int64_t NextRunAt(const ScheduleInput& in);

}  // namespace pg_retention::core
