// replication_origin.cpp: see replication_origin.hpp.
#include "pg/run/replication_origin.hpp"

#include "pg/module/gucs.hpp"
#include "pg/run/policy_lock.hpp"

extern "C" {
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "replication/origin.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "pg/pg_compat.h"
}

namespace pg_retention::pg {

namespace {

// Locktag field 4 of the origin lock (the policy lock is 4, waitpoints 3).
constexpr uint16 kOriginLockField = 5;

// Whether this backend set the session origin up (and must reset it).
bool origin_set_up = false;

}  // namespace

void RequireOriginFiltering() {
#if PG_VERSION_NUM < 160000
  ereport(ERROR,
          (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
           errmsg("replicate_deletes => false needs PostgreSQL 16 or later"),
           errdetail("This server is PostgreSQL %d.", PG_VERSION_NUM / 10000),
           errhint("Subscriptions filter changes by replication origin (origin = none) from "
                   "PostgreSQL 16 on.")));
#endif
}

void EnsureRetentionOrigin() {
  if (replorigin_by_name(kRetentionOriginName, true) == InvalidRepOriginId)
    (void) replorigin_create(kRetentionOriginName);
}

void BeginOriginBatch() {
  RequireOriginFiltering();
  if (replorigin_session_origin != InvalidRepOriginId)
    ereport(ERROR,
            (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
             errmsg("this session has a replication origin set up already"),
             errdetail("Batches of a policy with replicate_deletes => false carry the "
                       "replication origin \"%s\".",
                       kRetentionOriginName),
             errhint("Reset it with pg_replication_origin_session_reset() first.")));
  // Until the batch commits. The wait is bounded by retention.lock_timeout
  // (one second when that is 0): a batch that holds the origin as long as
  // its table's triggers please must not stop other policies for longer;
  // 55P03 makes the waiting batch back off and retry like any lock timeout.
  LOCKTAG tag;
  SET_LOCKTAG_ADVISORY(tag, InvalidOid, kPolicyLockClass, 0, kOriginLockField);
  TimestampTz deadline = TimestampTzPlusMilliseconds(
      GetCurrentTimestamp(), guc_lock_timeout_ms > 0 ? guc_lock_timeout_ms : 1000);
  while (LockAcquire(&tag, ExclusiveLock, false, true) == LOCKACQUIRE_NOT_AVAIL) {
    if (GetCurrentTimestamp() >= deadline)
      ereport(ERROR,
              (errcode(ERRCODE_LOCK_NOT_AVAILABLE),
               errmsg("could not take the replication origin \"%s\" in time",
                      kRetentionOriginName),
               errdetail("A batch of another policy with replicate_deletes => false holds it; "
                         "such batches take turns.")));
    (void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 10,
                     PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
    CHECK_FOR_INTERRUPTS();
  }
  EnsureRetentionOrigin();
  RepOriginId origin = replorigin_by_name(kRetentionOriginName, false);
  ReplOriginSessionSetupCompat(origin);
  origin_set_up = true;
  replorigin_session_origin = origin;
}

void EndOriginBatch() {
  if (!origin_set_up) return;
  origin_set_up = false;
  replorigin_session_origin = InvalidRepOriginId;
  replorigin_session_origin_lsn = InvalidXLogRecPtr;
  replorigin_session_origin_timestamp = 0;
  replorigin_session_reset();
}

}  // namespace pg_retention::pg
