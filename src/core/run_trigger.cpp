// run_trigger.cpp: see run_trigger.hpp.
#include "core/run_trigger.hpp"

#include <cstring>

namespace pg_retention::core {

namespace {
bool Equal(const char* a, const char* b) { return a != nullptr && std::strcmp(a, b) == 0; }
}  // namespace

bool IsPgCronJob(const char* bgw_library, const char* bgw_function, const char* application_name) {
  if (Equal(bgw_library, "pg_cron") && Equal(bgw_function, "CronBackgroundWorker")) return true;
  return Equal(application_name, "pg_cron");
}

const char* RunTriggerName(RunEntry entry, bool in_pg_cron_job) {
  switch (entry) {
    case RunEntry::kScheduler: return "worker";
    case RunEntry::kRunDue: return in_pg_cron_job ? "pg_cron" : "run_due";
    case RunEntry::kRun: return in_pg_cron_job ? "pg_cron" : "manual";
  }
  return "manual";
}

bool FollowsSchedule(RunEntry entry) { return entry != RunEntry::kRun; }

}  // namespace pg_retention::core
