// health.hpp: the health throttle's readings. Before each batch the engine
// asks ThrottleReasonNow(); while it returns a reason, the run waits (no
// snapshot held) and shows the reason in retention.status. The decision
// itself is core/throttle.cpp.
#pragma once

namespace pg_retention::pg {

// palloc'd reason to wait, or nullptr when the batch may go. Reads
// pg_stat_replication, the archiver's status directory and
// pg_stat_progress_vacuum as the extension owner.
char* ThrottleReasonNow(unsigned int relid);

}  // namespace pg_retention::pg
