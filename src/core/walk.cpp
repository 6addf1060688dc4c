// walk.cpp: see walk.hpp.
#include "core/walk.hpp"

namespace pg_retention::core {

bool IndexWalkFinished(const IndexBatchSeen& seen) {
  return seen.cursor_all_null || seen.candidates < seen.limit ||
         (seen.removed == 0 && !seen.cursor_changed);
}

BlockWalkNext AdvanceBlockWalk(const BlockBatchSeen& seen) {
  BlockWalkNext next;
  next.next_block = seen.next_block;
  if (seen.candidates < seen.limit || seen.removed == 0) next.next_block += seen.blocks;
  next.finished = next.next_block >= seen.end_block;
  return next;
}

}  // namespace pg_retention::core
