// policy_lock.cpp: see policy_lock.hpp.
#include "pg/policy_lock.hpp"

extern "C" {
#include "postgres.h"

#include "miscadmin.h"
#include "storage/lock.h"
}

namespace pg_retention::pg {

namespace {

// The fourth field of an advisory lock tag (objsubid in pg_locks): 1 and 2
// are the key spaces of the SQL functions (one int8, two int4), 3 is the
// test waitpoints'. 4 is ours alone: no SQL function can take or hold it,
// so no role can keep a policy from running by holding its lock.
constexpr uint16 kPolicyKeySpace = 4;

LOCKTAG PolicyTag(int32_t policy_id) {
  LOCKTAG tag;
  SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, kPolicyLockClass, static_cast<uint32>(policy_id),
                       kPolicyKeySpace);
  return tag;
}

}  // namespace

bool TryLockPolicy(int32_t policy_id) {
  LOCKTAG tag = PolicyTag(policy_id);
  return LockAcquire(&tag, ExclusiveLock, true, true) != LOCKACQUIRE_NOT_AVAIL;
}

void UnlockPolicy(int32_t policy_id) {
  LOCKTAG tag = PolicyTag(policy_id);
  LockRelease(&tag, ExclusiveLock, true);
}

}  // namespace pg_retention::pg
