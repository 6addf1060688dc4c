// archive_stage.hpp: the decisions of the archive stage (archive_retain,
// issue #11): what add_policy/alter_policy do with an archive_retain
// argument, and whether a run goes on to remove expired archived rows once
// its purge stage has ended. Pure C++: the caller passes plain facts.
#pragma once
#include "core/wall.hpp"

#include <cstdint>

#include "core/status.hpp"

namespace pg_retention::core {

// What happens to a policy's stored archive_retain.
enum class ArchiveRetainAction { kKeep, kSet, kClear };

struct ArchiveRetainRequest {
  bool archive_mode = false;     // the policy's mode after this call
  bool given = false;            // archive_retain was passed (not NULL)
  int64_t value_us = 0;          // the value passed, months as 30 days
  bool value_has_parts = false;  // some field (month, day, time) is not zero
  bool in_alter = false;         // alter_policy: '0' removes the setting
  bool currently_set = false;    // the policy has one stored
};

struct ArchiveRetainDecision {
  Status status;
  ArchiveRetainAction action = ArchiveRetainAction::kKeep;
};

// add_policy(archive_retain => ...) and alter_policy(archive_retain => ...).
// Refuses a value in delete mode and one that is not positive; '0' removes
// it in alter_policy; a policy turned to delete mode loses its setting.
ArchiveRetainDecision DecideArchiveRetain(const ArchiveRetainRequest& request);

// How the purge stage of a run ended, as far as the archive stage cares.
struct PurgeStageOutcome {
  bool archive_mode = false;
  bool archive_retain_set = false;
  bool extension_dropped = false;  // nowhere to record a stage
  bool policy_dropped = false;
  bool switched_off = false;  // the scheduler's kill switch (worker runs)
};

// Whether the run goes on with its archive stage. A purge stage that failed
// or stopped early does not hold the archive stage back: the two tables are
// cleaned independently, and the archive must not grow because the source
// has a problem.
bool ArchiveStageDue(const PurgeStageOutcome& outcome);

}  // namespace pg_retention::core
