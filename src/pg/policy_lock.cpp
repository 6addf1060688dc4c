// policy_lock.cpp: see policy_lock.hpp.
#include "pg/policy_lock.hpp"

extern "C" {
#include "postgres.h"

#include "miscadmin.h"
#include "storage/lock.h"
}

namespace pg_retention::pg {

namespace {

// objsubid 2 marks the two-int4 advisory key space in pg_locks.
constexpr uint16 kInt4PairKeySpace = 2;

LOCKTAG PolicyTag(int32_t policy_id) {
  LOCKTAG tag;
  SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, kPolicyLockClass, static_cast<uint32>(policy_id),
                       kInt4PairKeySpace);
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
