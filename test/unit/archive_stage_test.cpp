// Unit tests for the archive stage's decisions (src/core/archive_stage).
#include "core/archive_stage.hpp"

#include <gtest/gtest.h>

using namespace pg_retention::core;

namespace {
ArchiveRetainRequest Request(bool archive_mode, bool given, int64_t us, bool in_alter,
                             bool currently_set) {
  ArchiveRetainRequest r;
  r.archive_mode = archive_mode;
  r.given = given;
  r.value_us = us;
  r.value_has_parts = us != 0;
  r.in_alter = in_alter;
  r.currently_set = currently_set;
  return r;
}
constexpr int64_t kDay = 86400LL * 1000000;
}  // namespace

TEST(ArchiveRetain, SetInArchiveMode) {
  auto d = DecideArchiveRetain(Request(true, true, 30 * kDay, false, false));
  EXPECT_TRUE(d.status.ok());
  EXPECT_EQ(d.action, ArchiveRetainAction::kSet);
}

TEST(ArchiveRetain, RefusedInDeleteMode) {
  auto d = DecideArchiveRetain(Request(false, true, 30 * kDay, false, false));
  EXPECT_FALSE(d.status.ok());
  EXPECT_EQ(d.status.kind(), ErrorKind::kInvalidParameterValue);
  EXPECT_NE(d.status.message().find("mode => 'archive'"), std::string::npos);
  d = DecideArchiveRetain(Request(false, true, 30 * kDay, true, false));
  EXPECT_FALSE(d.status.ok());
}

TEST(ArchiveRetain, ZeroOrNegative) {
  EXPECT_FALSE(DecideArchiveRetain(Request(true, true, 0, false, false)).status.ok());
  EXPECT_FALSE(DecideArchiveRetain(Request(true, true, -kDay, false, false)).status.ok());
  EXPECT_FALSE(DecideArchiveRetain(Request(true, true, -kDay, true, true)).status.ok());
  // alter_policy: '0' removes it, in either mode.
  auto d = DecideArchiveRetain(Request(true, true, 0, true, true));
  EXPECT_TRUE(d.status.ok());
  EXPECT_EQ(d.action, ArchiveRetainAction::kClear);
  d = DecideArchiveRetain(Request(false, true, 0, true, false));
  EXPECT_TRUE(d.status.ok());
  EXPECT_EQ(d.action, ArchiveRetainAction::kClear);
}

TEST(ArchiveRetain, NotGivenKeepsUnlessModeLeavesArchive) {
  EXPECT_EQ(DecideArchiveRetain(Request(true, false, 0, true, true)).action,
            ArchiveRetainAction::kKeep);
  EXPECT_EQ(DecideArchiveRetain(Request(false, false, 0, true, true)).action,
            ArchiveRetainAction::kClear);
  EXPECT_EQ(DecideArchiveRetain(Request(false, false, 0, true, false)).action,
            ArchiveRetainAction::kKeep);
}

TEST(ArchiveStage, DueOnlyWithRetainInArchiveMode) {
  PurgeStageOutcome o;
  EXPECT_FALSE(ArchiveStageDue(o));
  o.archive_mode = true;
  EXPECT_FALSE(ArchiveStageDue(o));
  o.archive_retain_set = true;
  EXPECT_TRUE(ArchiveStageDue(o));
}

TEST(ArchiveStage, NotAfterDropOrKillSwitch) {
  PurgeStageOutcome o;
  o.archive_mode = o.archive_retain_set = true;
  o.extension_dropped = true;
  EXPECT_FALSE(ArchiveStageDue(o));
  o.extension_dropped = false;
  o.policy_dropped = true;
  EXPECT_FALSE(ArchiveStageDue(o));
  o.policy_dropped = false;
  o.switched_off = true;
  EXPECT_FALSE(ArchiveStageDue(o));
}
