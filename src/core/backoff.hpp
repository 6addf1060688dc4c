// backoff.hpp: how long to wait before retrying after a failed batch (inside a
// run) or a failed run (the scheduler). Exponential, capped, with jitter so
// that several policies failing together do not retry in lockstep. Pure math:
// the caller passes the random draw.
#pragma once
#include "core/wall.hpp"

#include <cstdint>

namespace pg_retention::core {

struct BackoffSettings {
  int64_t base_ms = 100;     // delay after the first failure
  int64_t max_ms = 10000;    // cap
  double jitter = 0.2;       // +/- this fraction of the delay
};

// failures >= 1; unit_random in [0, 1). Result in [0, max_ms].
int64_t BackoffDelayMs(const BackoffSettings& settings, int failures, double unit_random);

}  // namespace pg_retention::core
