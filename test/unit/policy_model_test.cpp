// Unit tests for policy setting validation (src/core/policy_model).
#include "core/policy_model.hpp"

#include <gtest/gtest.h>

using namespace pg_retention::core;

TEST(PolicyModel, ParsesModes) {
  EXPECT_EQ(ParseMode("delete"), Mode::kDelete);
  EXPECT_EQ(ParseMode("archive"), Mode::kArchive);
  EXPECT_FALSE(ParseMode("Delete"));
  EXPECT_FALSE(ParseMode(""));
  EXPECT_STREQ(ModeName(Mode::kArchive), "archive");
}

TEST(PolicyModel, UnknownModeHasHint) {
  Status s = ValidateModeText("purge");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.kind(), ErrorKind::kInvalidParameterValue);
  EXPECT_EQ(s.message(), "invalid retention mode \"purge\"");
  EXPECT_NE(s.hint().find("\"delete\""), std::string::npos);
}

TEST(PolicyModel, BatchSizeMustBePositive) {
  EXPECT_TRUE(ValidateBatchSize(1).ok());
  EXPECT_FALSE(ValidateBatchSize(0).ok());
  EXPECT_FALSE(ValidateBatchSize(-5).ok());
  // The hint names the way back to the engine's choice in each function.
  EXPECT_NE(ValidateBatchSize(-5).hint().find("NULL"), std::string::npos);
  EXPECT_NE(ValidateBatchSize(-5, true).hint().find("Pass 0"), std::string::npos);
}

TEST(PolicyModel, RetainMustNotBeNegative) {
  EXPECT_TRUE(ValidateRetain({0, 0, 0}).ok());
  EXPECT_TRUE(ValidateRetain({1, 0, 0}).ok());
  EXPECT_FALSE(ValidateRetain({0, -1, 0}).ok());
  EXPECT_FALSE(ValidateRetain({0, 0, -1}).ok());
  // '1 month -1 day' is positive in total but has a negative part: refused,
  // because its meaning depends on the calendar.
  EXPECT_FALSE(ValidateRetain({1, -1, 0}).ok());
}

TEST(PolicyModel, ScheduleMustBePositive) {
  EXPECT_TRUE(ValidateSchedule({0, 0, 1000000}).ok());
  EXPECT_FALSE(ValidateSchedule({0, 0, 0}).ok());
  EXPECT_FALSE(ValidateSchedule({0, -1, 0}).ok());
}

TEST(PolicyModel, PolicyNames) {
  EXPECT_TRUE(ValidatePolicyName("tokens").ok());
  EXPECT_TRUE(ValidatePolicyName("We\"ird Name").ok());
  EXPECT_FALSE(ValidatePolicyName("").ok());
  EXPECT_FALSE(ValidatePolicyName(std::string(258, 'x')).ok());
  EXPECT_TRUE(ValidatePolicyName(std::string(257, 'x')).ok());
  // The longest default name: two 63-byte identifiers of double quotes.
  std::string quoted = "\"" + std::string(126, '"') + "\"";
  EXPECT_TRUE(ValidatePolicyName(quoted + "." + quoted).ok());
  EXPECT_FALSE(ValidatePolicyName("a\nb").ok());
}

TEST(PolicyModel, ArchiveTableOnlyInArchiveMode) {
  EXPECT_TRUE(ValidateArchiveTableForMode(Mode::kArchive, true).ok());
  EXPECT_TRUE(ValidateArchiveTableForMode(Mode::kArchive, false).ok());
  EXPECT_TRUE(ValidateArchiveTableForMode(Mode::kDelete, false).ok());
  EXPECT_FALSE(ValidateArchiveTableForMode(Mode::kDelete, true).ok());
}

TEST(PolicyModel, MaxRuntimeMustBePositive) {
  EXPECT_TRUE(ValidateMaxRuntime({0, 0, 1}).ok());
  EXPECT_FALSE(ValidateMaxRuntime({0, 0, 0}).ok());
  EXPECT_FALSE(ValidateMaxRuntime({0, -1, 0}).ok());
}

TEST(PolicyModel, TargetBatchTimeWithinTheSettingsRange) {
  EXPECT_TRUE(ValidateTargetBatchTime({0, 0, 1000}).ok());          // 1 ms
  EXPECT_TRUE(ValidateTargetBatchTime({0, 0, 60 * 1000000}).ok());  // 1 min
  EXPECT_FALSE(ValidateTargetBatchTime({0, 0, 999}).ok());
  EXPECT_FALSE(ValidateTargetBatchTime({0, 0, 0}).ok());
  EXPECT_FALSE(ValidateTargetBatchTime({0, 0, -1000}).ok());
  EXPECT_FALSE(ValidateTargetBatchTime({0, 0, 60 * 1000000 + 1}).ok());
  EXPECT_FALSE(ValidateTargetBatchTime({0, 1, 0}).ok());
  EXPECT_FALSE(ValidateTargetBatchTime({1, 0, 0}).ok());
  Status st = ValidateTargetBatchTime({0, 0, 0});
  EXPECT_EQ(st.message(), "target_batch_time must be between 1 millisecond and 1 minute");
}

TEST(PolicyModel, TargetBatchTimeMilliseconds) {
  EXPECT_EQ(TargetBatchTimeMs({0, 0, 250000}), 250);
  EXPECT_EQ(TargetBatchTimeMs({0, 0, 1500}), 1);  // whole milliseconds, rounded down
}

TEST(PolicyModel, MaxRows) {
  EXPECT_TRUE(ValidateMaxRows(1).ok());
  EXPECT_FALSE(ValidateMaxRows(0).ok());
}

TEST(PolicyModel, RetainHasAnUpperBound) {
  EXPECT_TRUE(ValidateRetain({12 * 1000, 0, 0}).ok());
  EXPECT_FALSE(ValidateRetain({12 * 1000 + 1, 0, 0}).ok());
  EXPECT_FALSE(ValidateRetain({0, 366 * 1000 + 1, 0}).ok());
  EXPECT_FALSE(ValidateRetain({0, 0, 366LL * 1001 * 86400 * 1000000}).ok());
  // The parts add up: 900 years of months plus 200 years of days is too long.
  EXPECT_FALSE(ValidateRetain({12 * 900, 366 * 200, 0}).ok());
  EXPECT_EQ(ValidateRetain({0x7fffffff, 0, 0}).kind(), ErrorKind::kInvalidParameterValue);
}

TEST(PolicyModel, QualifiedNamesAreReservedForTheirTable) {
  EXPECT_TRUE(ValidatePolicyNameForTable("public.tokens", "public.tokens").ok());
  EXPECT_TRUE(ValidatePolicyNameForTable("tokens cleanup", "public.tokens").ok());
  EXPECT_FALSE(ValidatePolicyNameForTable("public.sessions", "mallory.tokens").ok());
  EXPECT_FALSE(ValidatePolicyNameForTable("\"Odd\".x", "public.tokens").ok());
  EXPECT_FALSE(ValidatePolicyNameForTable("v1.2", "public.tokens").ok());
  EXPECT_EQ(ValidatePolicyNameForTable("a.b", "public.tokens").kind(), ErrorKind::kInvalidName);
}

TEST(PolicyModel, RetainUnderAMinuteLooksUnitless) {
  EXPECT_TRUE(RetainLooksUnitless({0, 0, 30 * 1000000LL}));  // '30'
  EXPECT_TRUE(RetainLooksUnitless({0, 0, 1}));
  EXPECT_FALSE(RetainLooksUnitless({0, 0, 0}));               // '0': purge at once
  EXPECT_FALSE(RetainLooksUnitless({0, 0, 60 * 1000000LL}));  // '1 minute'
  EXPECT_FALSE(RetainLooksUnitless({0, 1, 0}));
  EXPECT_FALSE(RetainLooksUnitless({1, 0, 0}));
}

TEST(PolicyModel, MaxRowsPerSecondMustBePositive) {
  EXPECT_TRUE(ValidateMaxRowsPerSecond(1).ok());
  EXPECT_FALSE(ValidateMaxRowsPerSecond(0).ok());
  EXPECT_FALSE(ValidateMaxRowsPerSecond(-3).ok());
  EXPECT_EQ(ValidateMaxRowsPerSecond(-3).message(), "max_rows_per_second must be greater than zero");
  EXPECT_NE(ValidateMaxRowsPerSecond(0).hint().find("NULL"), std::string::npos);
  EXPECT_TRUE(ValidateMaxRowsPerSecond(0, true).ok());  // alter_policy: 0 removes the limit
  EXPECT_FALSE(ValidateMaxRowsPerSecond(-1, true).ok());
  EXPECT_NE(ValidateMaxRowsPerSecond(-1, true).hint().find("Pass 0"), std::string::npos);
}

namespace {
PolicySettings ValidSettings() {
  PolicySettings s;
  s.name = "p";
  s.schedule.microseconds = 3600LL * 1000000;
  return s;
}
}  // namespace

TEST(PolicyModel, PolicySettingsValidAsAWhole) {
  EXPECT_TRUE(ValidatePolicySettings(ValidSettings()).ok());
}

TEST(PolicyModel, PolicySettingsCheckEachSetting) {
  PolicySettings s = ValidSettings();
  s.mode_text = "purge";
  EXPECT_FALSE(ValidatePolicySettings(s).ok());
  s = ValidSettings();
  s.archive_given = true;  // in delete mode
  EXPECT_FALSE(ValidatePolicySettings(s).ok());
  s = ValidSettings();
  s.retain.days = -1;
  EXPECT_FALSE(ValidatePolicySettings(s).ok());
  s = ValidSettings();
  s.schedule.microseconds = 0;
  EXPECT_FALSE(ValidatePolicySettings(s).ok());
  s = ValidSettings();
  s.batch_size = -1;
  EXPECT_FALSE(ValidatePolicySettings(s).ok());
  s = ValidSettings();
  s.has_max_runtime = true;  // a zero interval
  EXPECT_FALSE(ValidatePolicySettings(s).ok());
  s = ValidSettings();
  s.has_target_batch_time = true;  // a zero interval, in add_policy
  EXPECT_FALSE(ValidatePolicySettings(s).ok());
}

TEST(PolicyModel, PolicySettingsMaxRowsPerSecondOnlyWhenGiven) {
  PolicySettings s = ValidSettings();
  s.max_rows_per_second = 0;
  EXPECT_TRUE(ValidatePolicySettings(s).ok());  // not given: no limit
  s.has_max_rows_per_second = true;
  EXPECT_FALSE(ValidatePolicySettings(s).ok());
  s.in_alter = true;
  EXPECT_TRUE(ValidatePolicySettings(s).ok());
}

TEST(PolicyModel, PolicySettingsReportTheFirstFailure) {
  PolicySettings s = ValidSettings();
  s.mode_text = "purge";
  s.schedule.microseconds = 0;
  Status st = ValidatePolicySettings(s);
  EXPECT_NE(st.message().find("mode"), std::string::npos);
}
