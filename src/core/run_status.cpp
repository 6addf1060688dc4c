// run_status.cpp: see run_status.hpp.
#include "core/run_status.hpp"

namespace pg_retention::core {

void AddOutcome(RunTally* tally, RunOutcome outcome) {
  switch (outcome) {
    case RunOutcome::kOk: ++tally->ok; return;
    case RunOutcome::kPartial: ++tally->partial; return;
    case RunOutcome::kSkipped: ++tally->skipped; return;
    case RunOutcome::kError: ++tally->error; return;
  }
  ++tally->error;  // an outcome this code does not know is not a success
}

RunOutcome CombinedOutcome(const RunTally& tally) {
  if (tally.error > 0) return RunOutcome::kError;
  if (tally.partial > 0) return RunOutcome::kPartial;
  if (tally.ok > 0) return RunOutcome::kOk;
  if (tally.skipped > 0) return RunOutcome::kSkipped;
  return RunOutcome::kOk;
}

bool RaisesAfterRuns(const RunTally& tally, bool raise_on_error) {
  return raise_on_error && tally.error > 0;
}

}  // namespace pg_retention::core
