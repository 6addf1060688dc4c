// run_status.hpp: how the outcomes of several policy runs combine into the
// one status that CALL retention.run() / run_due() return, and whether the
// call raises an error at the end. Pure decisions, no server calls.
//
//   combined status: no run at all        -> ok
//                    any error            -> error
//                    else any partial     -> partial
//                    else any ok          -> ok
//                    only skipped runs    -> skipped
//   raises:          only when asked (run_due always asks) and some run
//                    ended in error. A skipped run (another executor holds
//                    the policy) never raises: that executor records its own
//                    outcome.
#pragma once
#include "core/wall.hpp"

namespace pg_retention::core {

enum class RunOutcome { kOk, kPartial, kSkipped, kError };

// How many runs ended each way. Trivially copyable: lives in server frames.
struct RunTally {
  int ok;
  int partial;
  int skipped;
  int error;
};

void AddOutcome(RunTally* tally, RunOutcome outcome);

RunOutcome CombinedOutcome(const RunTally& tally);

bool RaisesAfterRuns(const RunTally& tally, bool raise_on_error);

}  // namespace pg_retention::core
