// rate_limit.hpp: pacing batches to a rows-per-second limit, per policy and
// for the whole cluster. A limiter keeps the earliest time the next batch
// may start; reserving a batch of n rows moves it n / rate seconds on. The
// run pays after each batch for the rows it REMOVED (a batch that removed
// nothing costs nothing), and waits before the next for the time paid. Pure
// math on microseconds; the server keeps the cluster-wide time in shared
// memory and the per-run one on its stack.
#pragma once
#include "core/wall.hpp"

#include <cstdint>

namespace pg_retention::core {

struct RateReservation {
  int64_t start_at_us;  // when the batch may start (>= now)
  int64_t next_at_us;   // the limiter's new "earliest next start"
};

// rows_per_second <= 0 means no limit: start now, nothing reserved. rows <=
// 0 reserves nothing but still says when a batch may start (a look).
RateReservation ReserveRows(int64_t next_at_us, int64_t now_us, int64_t rows,
                            int64_t rows_per_second);

// After a batch that started at batch_start_us and removed `removed` rows:
// the limiter's new earliest next start.
int64_t PayForRemoved(int64_t next_at_us, int64_t batch_start_us, int64_t removed,
                      int64_t rows_per_second);

}  // namespace pg_retention::core
