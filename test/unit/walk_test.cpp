// Unit tests for the walk rules (src/core/walk) and the block range extent
// (src/core/block_walk), which follows the batch size of each batch.
#include "core/block_walk.hpp"
#include "core/walk.hpp"

#include <gtest/gtest.h>

namespace core = pg_retention::core;

TEST(IndexWalk, EndsOnAShortBatch) {
  core::IndexBatchSeen seen;
  seen.limit = 100;
  seen.candidates = 40;
  seen.removed = 40;
  seen.cursor_all_null = false;
  seen.cursor_changed = true;
  EXPECT_TRUE(core::IndexWalkFinished(seen));
  seen.candidates = 100;
  EXPECT_FALSE(core::IndexWalkFinished(seen));
}

TEST(IndexWalk, EndsWhenNoExpiryIsLeft) {
  core::IndexBatchSeen seen;
  seen.limit = 100;
  seen.candidates = 100;
  seen.removed = 100;
  seen.cursor_all_null = true;
  EXPECT_TRUE(core::IndexWalkFinished(seen));
}

// A full batch that removed nothing (every row held) and did not move the
// cursor would find the same rows again.
TEST(IndexWalk, EndsWhenAFullBatchMovesNothing) {
  core::IndexBatchSeen seen;
  seen.limit = 100;
  seen.candidates = 100;
  seen.removed = 0;
  seen.cursor_all_null = false;
  seen.cursor_changed = false;
  EXPECT_TRUE(core::IndexWalkFinished(seen));
  seen.cursor_changed = true;
  EXPECT_FALSE(core::IndexWalkFinished(seen));
}

namespace {

core::BlockBatchSeen Block(int64_t next, int64_t candidates, int64_t removed) {
  core::BlockBatchSeen seen;
  seen.next_block = next;
  seen.blocks = 10;
  seen.end_block = 30;
  seen.limit = 1000;
  seen.candidates = candidates;
  seen.removed = removed;
  return seen;
}

}  // namespace

TEST(BlockWalk, MovesOnAfterAShortBatch) {
  core::BlockWalkNext next = core::AdvanceBlockWalk(Block(0, 400, 400));
  EXPECT_EQ(next.next_block, 10);
  EXPECT_FALSE(next.finished);
}

TEST(BlockWalk, VisitsAFullRangeAgain) {
  core::BlockWalkNext next = core::AdvanceBlockWalk(Block(10, 1000, 1000));
  EXPECT_EQ(next.next_block, 10);
  EXPECT_FALSE(next.finished);
}

TEST(BlockWalk, MovesOnWhenAFullBatchRemovedNothing) {
  core::BlockWalkNext next = core::AdvanceBlockWalk(Block(10, 1000, 0));
  EXPECT_EQ(next.next_block, 20);
}

TEST(BlockWalk, FinishesPastTheEnd) {
  core::BlockWalkNext next = core::AdvanceBlockWalk(Block(20, 10, 10));
  EXPECT_EQ(next.next_block, 30);
  EXPECT_TRUE(next.finished);
}

// The range follows the adaptive batch size: twice the rows, twice the blocks.
TEST(BlockWalk, ExtentFollowsTheBatchSize) {
  EXPECT_EQ(core::BlocksPerBatch(1000, 10000, 100), 10);
  EXPECT_EQ(core::BlocksPerBatch(2000, 10000, 100), 20);
  EXPECT_EQ(core::BlocksPerBatch(1, 10000, 100), 1);
}
