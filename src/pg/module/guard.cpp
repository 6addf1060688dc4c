// guard.cpp: raising core failures as PostgreSQL errors (see guard.hpp).
#include "pg/module/guard.hpp"

extern "C" {
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "utils/elog.h"
}

namespace pg_retention::pg {

namespace {

int SqlStateFor(core::ErrorKind kind) {
  switch (kind) {
    case core::ErrorKind::kInvalidParameterValue: return ERRCODE_INVALID_PARAMETER_VALUE;
    case core::ErrorKind::kInvalidName: return ERRCODE_INVALID_NAME;
    default: return ERRCODE_INTERNAL_ERROR;
  }
}

// Bytes of text up to its last whole character in the server encoding.
// CopyText cut the core's string at a byte count, which can split a multibyte
// character; a message ending in half a character is not valid text (storing
// it in a text column, or converting it, fails).
int WholeCharacters(const char* text) {
  int len = static_cast<int>(strlen(text));
  return pg_mbcliplen(text, len, len);
}

}  // namespace

void RaiseCoreError(const CoreError* err) {
  ereport(ERROR, (errcode(SqlStateFor(err->kind)),
                  errmsg("%.*s", WholeCharacters(err->message), err->message),
                  err->detail[0] ? errdetail("%.*s", WholeCharacters(err->detail), err->detail) : 0,
                  err->hint[0] ? errhint("%.*s", WholeCharacters(err->hint), err->hint) : 0));
  pg_unreachable();
}

char* TakeCoreString(char* malloced) {
  if (malloced == nullptr)
    ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
  char* out = pstrdup(malloced);
  free(malloced);
  return out;
}

}  // namespace pg_retention::pg
