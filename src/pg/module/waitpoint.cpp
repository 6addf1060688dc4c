// waitpoint.cpp: see waitpoint.hpp. A waitpoint is an advisory lock tag in a
// key space SQL cannot reach: (database, 1919251566, hash of the name) with
// locktag field 4 = 3, shown in pg_locks as objsubid 3.
#include "pg/module/waitpoint.hpp"

#include "pg/module/gucs.hpp"
#include "pg/run/policy_lock.hpp"

extern "C" {
#include "postgres.h"

#include "common/hashfn.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/builtins.h"

PGDLLEXPORT Datum retention_debug_waitpoint_enable(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum retention_debug_waitpoint_release(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(retention_debug_waitpoint_enable);
PG_FUNCTION_INFO_V1(retention_debug_waitpoint_release);
}

namespace pg_retention::pg {

namespace {

constexpr uint16 kWaitpointKeySpace = 3;

LOCKTAG WaitpointTag(const char* name) {
  LOCKTAG tag;
  uint32 hash = hash_bytes(reinterpret_cast<const unsigned char*>(name), strlen(name));
  SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, kPolicyLockClass, hash, kWaitpointKeySpace);
  return tag;
}

void RequireSuperuser() {
  if (!superuser())
    ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                    errmsg("must be superuser to use retention test waitpoints")));
}

}  // namespace

void Waitpoint(const char* name) {
  if (!guc_enable_debug_waitpoints) return;
  LOCKTAG tag = WaitpointTag(name);
  (void) LockAcquire(&tag, ShareLock, false, false);
  LockRelease(&tag, ShareLock, false);
}

}  // namespace pg_retention::pg

Datum retention_debug_waitpoint_enable(PG_FUNCTION_ARGS) {
  using namespace pg_retention::pg;  // block scope only (scripts/lint.py)
  RequireSuperuser();
  char* name = text_to_cstring(PG_GETARG_TEXT_PP(0));
  LOCKTAG tag = WaitpointTag(name);
  (void) LockAcquire(&tag, ExclusiveLock, true, false);
  PG_RETURN_VOID();
}

Datum retention_debug_waitpoint_release(PG_FUNCTION_ARGS) {
  using namespace pg_retention::pg;  // block scope only (scripts/lint.py)
  RequireSuperuser();
  char* name = text_to_cstring(PG_GETARG_TEXT_PP(0));
  LOCKTAG tag = WaitpointTag(name);
  if (!LockRelease(&tag, ExclusiveLock, true))
    ereport(WARNING, (errmsg("retention waitpoint \"%s\" was not enabled in this session", name)));
  PG_RETURN_VOID();
}
