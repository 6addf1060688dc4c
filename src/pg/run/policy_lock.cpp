// policy_lock.cpp: see policy_lock.hpp.
#include "pg/run/policy_lock.hpp"

extern "C" {
#include "postgres.h"

#include "miscadmin.h"
#include "storage/lock.h"

#include "pg/pg_compat.h"
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

bool PolicyLockHeld(int32_t policy_id) {
  LOCKTAG tag = PolicyTag(policy_id);
  return LockHeldByMeCompat(&tag, ExclusiveLock);
}

struct AdvisoryLockSnapshot {
  int count;
  int capacity;
  LOCKTAG* tags;
  LOCKMODE* modes;
};

namespace {

// The key spaces of pg_advisory_lock(bigint) and (int, int): field 4 is 1 or 2.
bool IsSqlAdvisoryKey(const LOCKTAG* tag) {
  return tag->locktag_type == LOCKTAG_ADVISORY &&
         (tag->locktag_field4 == 1 || tag->locktag_field4 == 2);
}

bool Contains(const AdvisoryLockSnapshot* set, const LOCKTAG* tag, LOCKMODE mode) {
  for (int i = 0; i < set->count; ++i)
    if (set->modes[i] == mode && memcmp(&set->tags[i], tag, sizeof(LOCKTAG)) == 0) return true;
  return false;
}

}  // namespace

AdvisoryLockSnapshot* SnapshotAdvisoryLocks() {
  LockData* data = GetLockStatusData();
  AdvisoryLockSnapshot* set =
      static_cast<AdvisoryLockSnapshot*>(palloc0(sizeof(AdvisoryLockSnapshot)));
  // A key can be held in two modes (shared and exclusive) at once.
  set->capacity = 2 * data->nelements + 1;
  set->tags = static_cast<LOCKTAG*>(palloc0(sizeof(LOCKTAG) * set->capacity));
  set->modes = static_cast<LOCKMODE*>(palloc0(sizeof(LOCKMODE) * set->capacity));
  for (int i = 0; i < data->nelements; ++i) {
    const LockInstanceData* lock = &data->locks[i];
    if (lock->pid != MyProcPid || !IsSqlAdvisoryKey(&lock->locktag)) continue;
    for (LOCKMODE mode = 1; mode <= MaxLockMode; ++mode)
      if (lock->holdMask & LOCKBIT_ON(mode)) {
        if (set->count == set->capacity) break;
        set->tags[set->count] = lock->locktag;
        set->modes[set->count++] = mode;
      }
  }
  return set;
}

int ReleaseAdvisoryLocksTakenSince(const AdvisoryLockSnapshot* before) {
  AdvisoryLockSnapshot* now = SnapshotAdvisoryLocks();
  int released = 0;
  for (int i = 0; i < now->count; ++i) {
    if (Contains(before, &now->tags[i], now->modes[i])) continue;
    // As many times as it was taken: pg_advisory_lock() counts.
    while (LockHeldByMeCompat(&now->tags[i], now->modes[i]))
      if (!LockRelease(&now->tags[i], now->modes[i], true)) break;
    released++;
  }
  int lost = 0;
  for (int i = 0; i < before->count; ++i)
    if (!Contains(now, &before->tags[i], before->modes[i])) lost++;
  if (lost > 0)
    ereport(WARNING,
            (errmsg("%d advisory lock(s) this session held before the run were released by it",
                    lost),
             errdetail("Code of the policy's table released them, for example with "
                       "pg_advisory_unlock_all().")));
  return released;
}

}  // namespace pg_retention::pg
