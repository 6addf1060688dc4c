// archive_partitions.hpp: partitioned archives (archive_partition, issue
// #11). add_policy(archive_partition => '1 month') makes the archive it
// creates a table partitioned by RANGE (archived_at), with a DEFAULT
// partition as a safety net; every run creates the partition holding now
// and the next two ahead of need. The archive stage (archive_stage.cpp)
// lists the partitions to drop whole or to row-delete. Callers are
// connected to SPI.
#pragma once

#include <cstdint>

#include "pg/module/pg_fwd.hpp"

namespace pg_retention::pg {

constexpr int kPartitionsAhead = 2;

// After add_policy wrote the policy (archive_given: the caller named its own
// archive): turns the archive add_policy has just created into a
// partitioned one. Raises 22023 outside archive mode, with a given archive
// table, or for an interval that is not whole months or at least an hour.
void ApplyArchivePartition(const char* policy_name, bool given, uintptr_t interval,
                           bool archive_given);

// Creates the missing partitions (DEFAULT, the range holding now and
// kPartitionsAhead after it) of the policy's archive, when it has
// archive_partition. Never raises: a partition that cannot be created now
// (a lock held past retention.lock_timeout, rows of its range in the DEFAULT
// partition) is reported as a WARNING and tried again at the next run.
void EnsureArchivePartitions(int32_t policy_id);

// One partition of a partitioned archive.
struct ArchivePartition {
  Oid relid;
  char* name;       // quoted, schema-qualified
  bool is_default;  // or a range partition whose bounds are below
  bool has_bounds;  // a single-column range with finite bounds
  int64_t lower;    // TimestampTz
  int64_t upper;
};

// The partitions of a partitioned archive, in bound order (DEFAULT last).
// Raises 0A000 unless it is partitioned by RANGE (archived_at) and one level
// deep.
ArchivePartition* ListArchivePartitions(Oid archive_relid, int* count);

}  // namespace pg_retention::pg
