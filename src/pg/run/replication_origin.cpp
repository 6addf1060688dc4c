// replication_origin.cpp: see replication_origin.hpp.
#include "pg/run/replication_origin.hpp"

#include "pg/run/policy_lock.hpp"

extern "C" {
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "replication/origin.h"
#include "storage/lock.h"

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
  LOCKTAG tag;
  SET_LOCKTAG_ADVISORY(tag, InvalidOid, kPolicyLockClass, 0, kOriginLockField);
  (void) LockAcquire(&tag, ExclusiveLock, false, false);  // until the batch commits
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
