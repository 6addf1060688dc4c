// policy_lock.hpp: one executor per policy. The lock is a session-level
// advisory lock tag (kPolicyLockClass, policy id) in a key space of its own
// (objsubid 4 in pg_locks) that no SQL function can take, so every tool can
// see it but no role can hold it to stop a policy; it never collides with
// the keys applications take. See src/pg/README.md.
#pragma once

#include <cstdint>

namespace pg_retention::pg {

constexpr uint32_t kPolicyLockClass = 1919251566;  // 'retn'

// Takes the policy's lock without waiting; false when another session holds it.
bool TryLockPolicy(int32_t policy_id);
void UnlockPolicy(int32_t policy_id);

// Whether this backend still holds the policy's lock: user code that calls
// pg_advisory_unlock_all() releases every session-level advisory lock.
bool PolicyLockHeld(int32_t policy_id);

// The advisory locks of the SQL key spaces this backend holds, so that the
// ones user code takes at session level and leaves behind can be released
// when a run ends (see SECURITY.md, "Session residue").
struct AdvisoryLockSnapshot;
AdvisoryLockSnapshot* SnapshotAdvisoryLocks();
// Outside any transaction-level advisory lock (after a commit): releases
// every advisory lock held now that was not held at `before`; returns how
// many keys it released.
int ReleaseAdvisoryLocksTakenSince(const AdvisoryLockSnapshot* before);

}  // namespace pg_retention::pg
