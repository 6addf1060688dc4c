// launcher_decision.cpp: see launcher_decision.hpp.
#include "core/launcher_decision.hpp"

namespace pg_retention::core {

SchedulerStart DecideSchedulerStart(const SchedulerStartInput& in) {
  if (in.running || in.no_free_entry || in.registered_elsewhere || in.held)
    return SchedulerStart::kNo;
  if (in.started_before && in.now_us < in.last_start_us + in.naptime_us) return SchedulerStart::kNo;
  switch (in.state) {
    case DatabaseState::kNoExtension: return SchedulerStart::kNo;
    case DatabaseState::kHasExtension: return SchedulerStart::kStart;
    case DatabaseState::kUnknown: break;
  }
  return in.probing < in.max_probes ? SchedulerStart::kProbe : SchedulerStart::kNo;
}

}  // namespace pg_retention::core
