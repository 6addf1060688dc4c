// Unit tests for how run outcomes combine and when a call raises
// (src/core/run_status), and for the trigger a run records
// (src/core/run_trigger).
#include "core/run_status.hpp"
#include "core/run_trigger.hpp"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

using namespace pg_retention::core;

namespace {
RunTally Tally(std::initializer_list<RunOutcome> outcomes) {
  RunTally t{0, 0, 0, 0};
  for (RunOutcome o : outcomes) AddOutcome(&t, o);
  return t;
}
}  // namespace

TEST(RunStatus, NoRunIsOk) { EXPECT_EQ(CombinedOutcome(Tally({})), RunOutcome::kOk); }

TEST(RunStatus, ErrorWinsOverEverything) {
  EXPECT_EQ(CombinedOutcome(Tally({RunOutcome::kOk, RunOutcome::kError, RunOutcome::kPartial})),
            RunOutcome::kError);
  EXPECT_EQ(CombinedOutcome(Tally({RunOutcome::kSkipped, RunOutcome::kError})), RunOutcome::kError);
}

TEST(RunStatus, PartialWinsOverOkAndSkipped) {
  EXPECT_EQ(CombinedOutcome(Tally({RunOutcome::kOk, RunOutcome::kPartial})), RunOutcome::kPartial);
  EXPECT_EQ(CombinedOutcome(Tally({RunOutcome::kPartial, RunOutcome::kSkipped})),
            RunOutcome::kPartial);
}

TEST(RunStatus, SkippedCountsAsOkBesideOthers) {
  EXPECT_EQ(CombinedOutcome(Tally({RunOutcome::kSkipped, RunOutcome::kOk})), RunOutcome::kOk);
  EXPECT_EQ(CombinedOutcome(Tally({RunOutcome::kOk, RunOutcome::kSkipped})), RunOutcome::kOk);
}

TEST(RunStatus, OnlySkippedStaysSkipped) {
  EXPECT_EQ(CombinedOutcome(Tally({RunOutcome::kSkipped})), RunOutcome::kSkipped);
  EXPECT_EQ(CombinedOutcome(Tally({RunOutcome::kSkipped, RunOutcome::kSkipped})),
            RunOutcome::kSkipped);
}

TEST(RunStatus, CountsEachOutcome) {
  RunTally t = Tally({RunOutcome::kOk, RunOutcome::kError, RunOutcome::kError,
                      RunOutcome::kSkipped, RunOutcome::kPartial});
  EXPECT_EQ(t.ok, 1);
  EXPECT_EQ(t.error, 2);
  EXPECT_EQ(t.skipped, 1);
  EXPECT_EQ(t.partial, 1);
}

TEST(RunStatus, RaisesOnlyWhenAskedAndSomethingFailed) {
  EXPECT_TRUE(RaisesAfterRuns(Tally({RunOutcome::kOk, RunOutcome::kError}), true));
  EXPECT_FALSE(RaisesAfterRuns(Tally({RunOutcome::kOk, RunOutcome::kError}), false));
  EXPECT_FALSE(RaisesAfterRuns(Tally({RunOutcome::kOk, RunOutcome::kPartial}), true));
  EXPECT_FALSE(RaisesAfterRuns(Tally({}), true));
}

TEST(RunStatus, SkippedNeverRaises) {
  EXPECT_FALSE(RaisesAfterRuns(Tally({RunOutcome::kSkipped, RunOutcome::kSkipped}), true));
}

TEST(RunTrigger, PgCronBackgroundWorkerIsAJob) {
  EXPECT_TRUE(IsPgCronJob("pg_cron", "CronBackgroundWorker", nullptr));
  EXPECT_TRUE(IsPgCronJob("pg_cron", "CronBackgroundWorker", "psql"));
}

TEST(RunTrigger, PgCronLauncherAndOtherWorkersAreNot) {
  EXPECT_FALSE(IsPgCronJob("pg_cron", "PgCronLauncherMain", nullptr));
  EXPECT_FALSE(IsPgCronJob("pg_retention", "retention_scheduler_main", "pg_retention scheduler"));
  EXPECT_FALSE(IsPgCronJob(nullptr, nullptr, nullptr));
}

TEST(RunTrigger, PgCronLibpqSessionIsAJobByApplicationName) {
  EXPECT_TRUE(IsPgCronJob(nullptr, nullptr, "pg_cron"));
  EXPECT_FALSE(IsPgCronJob(nullptr, nullptr, "pg_cron scheduler"));
  EXPECT_FALSE(IsPgCronJob(nullptr, nullptr, "PG_CRON"));
  EXPECT_FALSE(IsPgCronJob(nullptr, nullptr, ""));
}

TEST(RunTrigger, Names) {
  EXPECT_EQ(std::string(RunTriggerName(RunEntry::kRun, false)), "manual");
  EXPECT_EQ(std::string(RunTriggerName(RunEntry::kRun, true)), "pg_cron");
  EXPECT_EQ(std::string(RunTriggerName(RunEntry::kRunDue, false)), "run_due");
  EXPECT_EQ(std::string(RunTriggerName(RunEntry::kRunDue, true)), "pg_cron");
  EXPECT_EQ(std::string(RunTriggerName(RunEntry::kScheduler, false)), "worker");
  EXPECT_EQ(std::string(RunTriggerName(RunEntry::kScheduler, true)), "worker");
}

TEST(RunTrigger, RunDueAndSchedulerFollowTheSchedule) {
  EXPECT_FALSE(FollowsSchedule(RunEntry::kRun));
  EXPECT_TRUE(FollowsSchedule(RunEntry::kRunDue));
  EXPECT_TRUE(FollowsSchedule(RunEntry::kScheduler));
}
