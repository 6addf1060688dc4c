// walk.hpp: when a walk over the source is finished, and where a block range
// walk goes next. Each batch reports what it saw; these decide whether the
// run has more to visit. The primary key walk needs no rule here: it is
// finished when its range was the last one (the bound query found fewer
// keys than the limit) or nothing follows the cursor.
#pragma once
#include "core/wall.hpp"

#include <cstdint>

namespace pg_retention::core {

struct IndexBatchSeen {
  int64_t limit = 0;            // the batch's LIMIT
  int64_t candidates = 0;       // rows it picked (at most limit)
  int64_t removed = 0;          // rows it deleted
  bool cursor_all_null = true;  // no expiry was left to resume from
  bool cursor_changed = false;  // the lowest expiry left moved on
};

// An index walk ends on a short batch, on no expiry left, or on a full batch
// that removed nothing and did not move the cursor (it would only find the
// same rows again).
bool IndexWalkFinished(const IndexBatchSeen& seen);

struct BlockBatchSeen {
  int64_t next_block = 0;  // first block of the batch's range
  int64_t blocks = 0;      // blocks in the range
  int64_t end_block = 0;   // table size in blocks when the plan was made
  int64_t limit = 0;
  int64_t candidates = 0;
  int64_t removed = 0;
};

struct BlockWalkNext {
  int64_t next_block = 0;
  bool finished = false;
};

// A full batch may have left rows in its range: the walk visits the range
// again, unless the batch removed nothing. Finished past the end.
BlockWalkNext AdvanceBlockWalk(const BlockBatchSeen& seen);

}  // namespace pg_retention::core
