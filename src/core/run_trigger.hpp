// run_trigger.hpp: what a run records as its trigger
// (retention.runs.trigger), and whether it follows the schedule's rules.
//
//   entry point            in a pg_cron job   elsewhere
//   CALL retention.run()   pg_cron            manual
//   CALL run_due()         pg_cron            run_due
//   the scheduler worker   -                  worker
//
// A session is a pg_cron job when it is pg_cron's job background worker
// (library "pg_cron", function "CronBackgroundWorker":
// cron.use_background_workers = on) or its application_name is "pg_cron"
// (pg_cron's libpq connections set it). Any client can set that
// application_name: it only changes the label, never what runs or who may.
//
// Runs of run_due() and of the scheduler follow the schedule: the kill switch
// (retention.enabled) stops them between batches, and a policy found running
// elsewhere is looked at again later (policy_state.next_run_at). run() does
// what it is told.
#pragma once
#include "core/wall.hpp"

namespace pg_retention::core {

enum class RunEntry { kRun, kRunDue, kScheduler };

// Null arguments mean "not known / not a background worker".
bool IsPgCronJob(const char* bgw_library, const char* bgw_function, const char* application_name);

const char* RunTriggerName(RunEntry entry, bool in_pg_cron_job);

bool FollowsSchedule(RunEntry entry);

}  // namespace pg_retention::core
