// subtransaction.cpp: RunInSubtransaction (see subtransaction.hpp).
extern "C" {
#include "postgres.h"

#include "access/xact.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
}

#include "pg/module/subtransaction.hpp"

namespace pg_retention::pg {

ErrorData* RunInSubtransaction(void (*fn)(void*), void* arg) {
  MemoryContext oldcontext = CurrentMemoryContext;
  ResourceOwner oldowner = CurrentResourceOwner;
  ErrorData* volatile error = nullptr;
  BeginInternalSubTransaction(NULL);
  MemoryContextSwitchTo(oldcontext);
  PG_TRY();
  {
    fn(arg);
    ReleaseCurrentSubTransaction();
    MemoryContextSwitchTo(oldcontext);
    CurrentResourceOwner = oldowner;
  }
  PG_CATCH();
  {
    MemoryContextSwitchTo(oldcontext);
    error = CopyErrorData();
    FlushErrorState();
    RollbackAndReleaseCurrentSubTransaction();
    MemoryContextSwitchTo(oldcontext);
    CurrentResourceOwner = oldowner;
  }
  PG_END_TRY();
  return error;
}

}  // namespace pg_retention::pg
