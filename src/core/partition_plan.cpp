// partition_plan.cpp: see partition_plan.hpp. Calendar arithmetic in UTC
// with the proleptic Gregorian calendar (days_from_civil / civil_from_days).
#include "core/partition_plan.hpp"

#include <cstdio>

namespace pg_retention::core {

namespace {

constexpr int64_t kMicrosPerDay = 86400LL * 1000000;
constexpr int64_t kPgEpochDays = 10957;  // 2000-01-01 in days since 1970-01-01

int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void CivilFromDays(int64_t z, int64_t* y, int64_t* m, int64_t* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp + (mp < 10 ? 3 : -9);
  *y = yoe + era * 400 + (*m <= 2);
}

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// Months since year 0 of the UTC date holding t, and back.
int64_t MonthIndex(int64_t t) {
  int64_t y, m, d;
  CivilFromDays(FloorDiv(t, kMicrosPerDay) + kPgEpochDays, &y, &m, &d);
  return y * 12 + (m - 1);
}

int64_t MonthStart(int64_t index) {
  int64_t y = FloorDiv(index, 12);
  int64_t m = index - y * 12 + 1;
  return (DaysFromCivil(y, m, 1) - kPgEpochDays) * kMicrosPerDay;
}

}  // namespace

Status PartitionStepFromInterval(int32_t months, int32_t days, int64_t time_us,
                                 PartitionStep* out) {
  *out = PartitionStep();
  if (months != 0 && (days != 0 || time_us != 0))
    return Status::Error(ErrorKind::kInvalidParameterValue,
                         "archive_partition must be whole months or a fixed length, not both", {},
                         "Use '1 month' or '7 days', for example.");
  if (months != 0) {
    if (months < 0)
      return Status::Error(ErrorKind::kInvalidParameterValue,
                           "archive_partition must be a positive interval");
    out->months = months;
    return Status::Ok();
  }
  const int64_t micros = static_cast<int64_t>(days) * kMicrosPerDay + time_us;
  if (micros < kMinPartitionMicros)
    return Status::Error(ErrorKind::kInvalidParameterValue,
                         "archive_partition must be at least 1 hour",
                         "Every range is a table; short ranges would make thousands of them.");
  out->micros = micros;
  return Status::Ok();
}

PartitionRange RangeAt(const PartitionStep& step, int64_t t) {
  if (step.months > 0) {
    int64_t index = MonthIndex(t);
    index -= ((index % step.months) + step.months) % step.months;
    return {MonthStart(index), MonthStart(index + step.months)};
  }
  const int64_t lower = FloorDiv(t, step.micros) * step.micros;
  return {lower, lower + step.micros};
}

std::vector<PartitionRange> RangesAhead(const PartitionStep& step, int64_t now, int ahead) {
  std::vector<PartitionRange> out;
  PartitionRange r = RangeAt(step, now);
  for (int i = 0; i <= ahead; ++i) {
    out.push_back(r);
    r = RangeAt(step, r.upper);
  }
  return out;
}

bool RangeExpired(const PartitionRange& range, int64_t cutoff) { return range.upper <= cutoff; }

bool RangeMayHoldExpired(const PartitionRange& range, int64_t cutoff) {
  return range.lower < cutoff;
}

std::string PartitionSuffix(const PartitionStep& step, int64_t lower) {
  int64_t y, m, d;
  const int64_t day = FloorDiv(lower, kMicrosPerDay);
  CivilFromDays(day + kPgEpochDays, &y, &m, &d);
  char buf[48];
  if (step.months > 0 || step.micros % kMicrosPerDay == 0) {
    std::snprintf(buf, sizeof(buf), "_p%04lld%02lld%02lld", static_cast<long long>(y),
                  static_cast<long long>(m), static_cast<long long>(d));
  } else {
    const int64_t minute = (lower - day * kMicrosPerDay) / 60000000;
    std::snprintf(buf, sizeof(buf), "_p%04lld%02lld%02lld_%02lld%02lld", static_cast<long long>(y),
                  static_cast<long long>(m), static_cast<long long>(d),
                  static_cast<long long>(minute / 60), static_cast<long long>(minute % 60));
  }
  return buf;
}

}  // namespace pg_retention::core
