// archive_retain.hpp: the archive_retain setting of archive-mode policies
// (issue #11): set by add_policy/alter_policy, read by the run's archive
// stage, and the ownership rule that keeps it from reaching other roles'
// tables. Callers are connected to SPI.
#pragma once

#include <cstdint>

namespace pg_retention::pg {

// After add_policy/alter_policy wrote the policy row: applies the
// archive_retain argument (given false: the argument was NULL) to the named
// policy, or clears it when the policy left archive mode. Raises 22023 for a
// value the mode does not allow and 42501 when the archive table is not the
// policy owner's to delete from.
void ApplyArchiveRetain(const char* policy_name, bool given, uintptr_t interval, bool in_alter);

// The archive stage's settings, read fresh from the catalog: false when the
// policy is gone, not in archive mode, or has no archive_retain. *cutoff is
// now() - archive_retain in the policy's time zone.
bool LoadArchiveStage(int32_t policy_id, unsigned int* archive_relid, uintptr_t* retain,
                      int64_t* cutoff);

// Raises 42501 unless the policy's owner has the privileges of the archive
// table's owner (so deleting archived rows as that owner gives nobody a
// right they did not have), and 0A000 for a partitioned archive.
void CheckArchiveStageTable(const char* policy_name, unsigned int policy_owner,
                            unsigned int archive_relid);

}  // namespace pg_retention::pg
