// policy_lock.hpp: one executor per policy. The lock is a session-level
// advisory lock in the two-int4 key space: (kPolicyLockClass, policy id),
// the same key pg_try_advisory_lock(1919251566, id) takes from SQL, so any
// tool can see or honour it; it never collides with the single-bigint keys
// Rails, golang-migrate and others use. See src/pg/README.md.
#pragma once

#include <cstdint>

namespace pg_retention::pg {

constexpr uint32_t kPolicyLockClass = 1919251566;  // 'retn'

// Takes the policy's lock without waiting; false when another session holds it.
bool TryLockPolicy(int32_t policy_id);
void UnlockPolicy(int32_t policy_id);

}  // namespace pg_retention::pg
