// rate_limit.cpp: see rate_limit.hpp.
#include "core/rate_limit.hpp"

#include <algorithm>

namespace pg_retention::core {

RateReservation ReserveRows(int64_t next_at_us, int64_t now_us, int64_t rows,
                            int64_t rows_per_second) {
  RateReservation r;
  if (rows_per_second <= 0) {
    r.start_at_us = now_us;
    r.next_at_us = next_at_us;
    return r;
  }
  if (rows <= 0) {
    r.start_at_us = std::max(next_at_us, now_us);
    r.next_at_us = next_at_us;
    return r;
  }
  r.start_at_us = std::max(next_at_us, now_us);
  // rows / rate seconds, in microseconds, without overflow for big batches.
  long double span = static_cast<long double>(rows) * 1000000.0L /
                     static_cast<long double>(rows_per_second);
  r.next_at_us = r.start_at_us + static_cast<int64_t>(span);
  return r;
}

int64_t PayForRemoved(int64_t next_at_us, int64_t batch_start_us, int64_t removed,
                      int64_t rows_per_second) {
  if (rows_per_second <= 0 || removed <= 0) return next_at_us;
  return ReserveRows(next_at_us, batch_start_us, removed, rows_per_second).next_at_us;
}

}  // namespace pg_retention::core
