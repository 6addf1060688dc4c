// launcher_decision.hpp: whether the launcher starts a scheduler for a
// database on this pass. One scheduler per database; none where the
// extension is known to be missing, where a database-wide command needs the
// database alone, or where one was started less than a naptime ago (so a
// scheduler that keeps failing, or a dropped database, cannot cause a restart
// loop); and at most a few probes of databases not yet looked at. Times are
// microseconds on any common clock; nothing here reads a clock.
#pragma once
#include "core/wall.hpp"

#include <cstdint>

namespace pg_retention::core {

// What the launcher knows of a database (kept in shared memory).
enum class DatabaseState : uint8_t { kUnknown = 0, kHasExtension = 1, kNoExtension = 2 };

struct SchedulerStartInput {
  bool running = false;               // this launcher's scheduler for it is alive
  bool registered_elsewhere = false;  // a scheduler an earlier launcher started
  bool held = false;                  // a database-wide command needs it alone
  bool no_free_entry = false;         // the launcher's table of schedulers is full
  DatabaseState state = DatabaseState::kUnknown;
  bool started_before = false;  // last_start_us is set
  int64_t last_start_us = 0;
  int64_t now_us = 0;
  int64_t naptime_us = 0;
  int probing = 0;  // probes of unknown databases still running
  int max_probes = 2;
};

enum class SchedulerStart {
  kNo,
  kStart,  // the database has the extension
  kProbe,  // not known yet: the scheduler finds out (and leaves if there is none)
};

SchedulerStart DecideSchedulerStart(const SchedulerStartInput& in);

}  // namespace pg_retention::core
