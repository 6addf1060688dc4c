// partition_plan.hpp: the ranges of a partitioned archive
// (archive_partition, issue #11). The archive is partitioned by RANGE
// (archived_at) in steps of whole months or of a fixed length (days, hours),
// aligned in UTC: months start on the 1st, fixed steps at multiples of the
// step since 2000-01-01 00:00 UTC. Times are PostgreSQL TimestampTz values
// (microseconds since 2000-01-01 UTC), passed in by the caller.
#pragma once
#include "core/wall.hpp"

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.hpp"

namespace pg_retention::core {

struct PartitionStep {
  int32_t months = 0;  // calendar months, or
  int64_t micros = 0;  // a fixed length (days count 24 hours)
};

struct PartitionRange {
  int64_t lower;  // inclusive
  int64_t upper;  // exclusive
};

constexpr int64_t kMinPartitionMicros = 3600LL * 1000000;  // one hour

// An interval (months, days, microseconds) as a step: whole months alone, or
// days and time alone, at least an hour; anything else is refused.
Status PartitionStepFromInterval(int32_t months, int32_t days, int64_t time_us, PartitionStep* out);

// The range that holds t.
PartitionRange RangeAt(const PartitionStep& step, int64_t t);

// The range holding now and the `ahead` ranges after it.
std::vector<PartitionRange> RangesAhead(const PartitionStep& step, int64_t now, int ahead);

// Every row of a range is older than cutoff: the partition can go whole.
bool RangeExpired(const PartitionRange& range, int64_t cutoff);

// Some row of the range may be older than cutoff (the range starts before
// it): the partition is row-deleted unless RangeExpired.
bool RangeMayHoldExpired(const PartitionRange& range, int64_t cutoff);

// The suffix of a partition's name: "_p20261101" for months and whole days,
// "_p20261101_1300" for steps of hours.
std::string PartitionSuffix(const PartitionStep& step, int64_t lower);

}  // namespace pg_retention::core
