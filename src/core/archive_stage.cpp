// archive_stage.cpp: see archive_stage.hpp.
#include "core/archive_stage.hpp"

namespace pg_retention::core {

ArchiveRetainDecision DecideArchiveRetain(const ArchiveRetainRequest& r) {
  ArchiveRetainDecision d;
  if (!r.given) {
    // A policy that leaves archive mode leaves its archive stage behind.
    d.action = (!r.archive_mode && r.currently_set) ? ArchiveRetainAction::kClear
                                                    : ArchiveRetainAction::kKeep;
    return d;
  }
  const bool zero = !r.value_has_parts;
  if (zero && r.in_alter) {
    d.action = ArchiveRetainAction::kClear;
    return d;
  }
  if (!r.archive_mode) {
    d.status =
        Status::Error(ErrorKind::kInvalidParameterValue, "archive_retain needs mode => 'archive'",
                      "A policy in delete mode keeps no archive.",
                      "Leave archive_retain out, or use mode => 'archive'.");
    return d;
  }
  if (zero || r.value_us <= 0) {
    d.status = Status::Error(ErrorKind::kInvalidParameterValue,
                             "archive_retain must be a positive interval", {},
                             r.in_alter ? "Pass archive_retain => '0' to keep archived rows "
                                          "forever."
                                        : "Leave archive_retain out to keep archived rows "
                                          "forever.");
    return d;
  }
  d.action = ArchiveRetainAction::kSet;
  return d;
}

bool ArchiveStageDue(const PurgeStageOutcome& o) {
  if (!o.archive_mode || !o.archive_retain_set) return false;
  return !o.extension_dropped && !o.policy_dropped && !o.switched_off;
}

}  // namespace pg_retention::core
