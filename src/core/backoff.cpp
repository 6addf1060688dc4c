// backoff.cpp: see backoff.hpp.
#include "core/backoff.hpp"

#include <algorithm>
#include <cmath>

namespace pg_retention::core {

int64_t BackoffDelayMs(const BackoffSettings& settings, int failures, double unit_random) {
  if (failures < 1) return 0;
  const int64_t cap = std::max<int64_t>(0, settings.max_ms);
  const int64_t base = std::max<int64_t>(0, settings.base_ms);
  // base * 2^(failures-1), computed without overflow.
  long double delay = static_cast<long double>(base);
  for (int i = 1; i < failures && delay < cap; ++i) delay *= 2;
  delay = std::min<long double>(delay, cap);

  const double r = std::clamp(unit_random, 0.0, 1.0);
  const double jitter = std::clamp(settings.jitter, 0.0, 1.0);
  delay *= 1.0L + static_cast<long double>(jitter) * (2.0L * r - 1.0L);
  return std::clamp<int64_t>(static_cast<int64_t>(std::llround(delay)), 0, cap);
}

}  // namespace pg_retention::core
