// guard.cpp: raising core failures as PostgreSQL errors (see guard.hpp).
#include "pg/guard.hpp"

extern "C" {
#include "postgres.h"

#include "utils/elog.h"
}

namespace pg_retention::pg {

namespace {

int SqlStateFor(int kind) {
  switch (static_cast<core::ErrorKind>(kind)) {
    case core::ErrorKind::kInvalidParameterValue: return ERRCODE_INVALID_PARAMETER_VALUE;
    case core::ErrorKind::kInvalidName: return ERRCODE_INVALID_NAME;
    default: return ERRCODE_INTERNAL_ERROR;
  }
}

}  // namespace

void RaiseCoreError(const CoreError* err) {
  ereport(ERROR, (errcode(SqlStateFor(err->kind)), errmsg("%s", err->message),
                  err->detail[0] ? errdetail("%s", err->detail) : 0,
                  err->hint[0] ? errhint("%s", err->hint) : 0));
  pg_unreachable();
}

char* TakeCoreString(char* malloced) {
  if (malloced == nullptr) ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
  char* out = pstrdup(malloced);
  free(malloced);
  return out;
}

}  // namespace pg_retention::pg
