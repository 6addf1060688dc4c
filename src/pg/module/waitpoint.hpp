// waitpoint.hpp: named test waitpoints, for deterministic concurrency and
// crash tests (superuser-only, documented as test hooks). A test holds a
// waitpoint with retention_internal.debug_waitpoint_enable(name); code that passes
// Waitpoint(name) then blocks on a heavyweight lock until the test calls
// retention_internal.debug_waitpoint_release(name), so isolationtester and
// pg_locks see the wait. Waitpoint() does nothing unless
// retention.enable_debug_waitpoints is on.
//
// Names used by the engine:
//   before_batch                before a batch starts its transaction work
//   after_delete_before_commit  after a batch's statement, before it commits
#pragma once

namespace pg_retention::pg {

void Waitpoint(const char* name);

}  // namespace pg_retention::pg
