// schedule.cpp: see schedule.hpp.
#include "core/schedule.hpp"

#include <algorithm>

#include "core/backoff.hpp"

namespace pg_retention::core {

int64_t NextRunAt(const ScheduleInput& in) {
  const int64_t schedule = std::max<int64_t>(in.schedule_us, 0);
  const int64_t regular = in.started_at_us + schedule;
  if (in.consecutive_failures <= 0) return in.partial ? in.finished_at_us : regular;

  BackoffSettings settings;
  settings.base_ms = kRetryBaseUs / 1000;
  settings.max_ms = std::min(kRetryCapUs, std::max<int64_t>(schedule, kRetryBaseUs)) / 1000;
  settings.jitter = 0.2;
  int64_t delay_us = BackoffDelayMs(settings, in.consecutive_failures, in.unit_random) * 1000;
  return std::min(in.finished_at_us + delay_us, std::max(regular, in.finished_at_us));
}

}  // namespace pg_retention::core
