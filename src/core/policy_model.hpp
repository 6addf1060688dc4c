// policy_model.hpp: what a retention policy is, independent of PostgreSQL,
// and the validation of the settings a user passes to add_policy and
// alter_policy. Expressions are validated by the server (they need the
// parser); everything else is checked here.
#pragma once
#include "core/wall.hpp"

#include <cstdint>
#include <optional>
#include <string>

#include "core/server_limits.hpp"
#include "core/status.hpp"

namespace pg_retention::core {

enum class Mode { kDelete, kArchive };

// A quoted identifier (kMaxIdentifierBytes, server_limits.hpp): every
// character may double and two quotes are added.
constexpr std::size_t kMaxQuotedIdentifierBytes = 2 * kMaxIdentifierBytes + 2;
// Longest policy name: room for the longest default name, a table's quoted
// qualified name ("schema"."table").
constexpr std::size_t kMaxPolicyNameBytes = 2 * kMaxQuotedIdentifierBytes + 1;

// The engine's batch size when a policy does not fix one.
constexpr int32_t kDefaultBatchSize = 5000;

// An SQL interval split as PostgreSQL stores it.
struct IntervalValue {
  int32_t months = 0;
  int32_t days = 0;
  int64_t microseconds = 0;
};

// Parses "delete" or "archive" (case-sensitive, as stored).
std::optional<Mode> ParseMode(const std::string& text);
const char* ModeName(Mode mode);

// Each returns Ok or a Status whose message is ready for errmsg().
Status ValidateModeText(const std::string& text);
Status ValidatePolicyName(const std::string& name);
// in_alter: alter_policy, where 0 (not NULL) hands the size back to the engine.
Status ValidateBatchSize(int64_t batch_size, bool in_alter = false);
// retain: not negative, and at most kMaxRetainYears, so that the cutoff
// (now - retain) always stays inside the timestamp range.
constexpr int64_t kMaxRetainYears = 1000;
Status ValidateRetain(const IntervalValue& retain);
// A retain of more than zero but under a minute is most likely a number
// written without a unit ('30' is 30 seconds): worth a NOTICE.
bool RetainLooksUnitless(const IntervalValue& retain);

// The default name of a table's policy is its quoted qualified name
// (default_name, "schema.table"); any other name with a period or a double
// quote is reserved, so no role can take the name another table's policy
// would get.
Status ValidatePolicyNameForTable(const std::string& name, const std::string& default_name);
Status ValidateSchedule(const IntervalValue& schedule);
Status ValidateMaxRows(int64_t max_rows);
Status ValidateMaxRuntime(const IntervalValue& max_runtime);

// A policy's own target_batch_time: the range of the setting
// retention.target_batch_time, 1 ms to 1 minute, with no day or month part.
constexpr int64_t kMinTargetBatchTimeUs = 1000;
constexpr int64_t kMaxTargetBatchTimeUs = 60 * 1000000LL;
// in_alter: alter_policy, where '0' (not NULL) removes the policy's own target.
Status ValidateTargetBatchTime(const IntervalValue& target, bool in_alter = false);
// A valid target in whole milliseconds (rounded down).
int32_t TargetBatchTimeMs(const IntervalValue& target);

// An archive table only makes sense in archive mode.
Status ValidateArchiveTableForMode(Mode mode, bool archive_table_given);

// max_rows_per_second: more than zero; in alter_policy 0 removes the limit
// (add_policy takes NULL for none).
Status ValidateMaxRowsPerSecond(int64_t rate, bool in_alter = false);

// Every setting add_policy or alter_policy is about to store, as plain values
// (the server converts its arguments before it asks). An unset optional
// setting has its has_* flag false.
struct PolicySettings {
  const char* name = "";
  const char* mode_text = "delete";
  bool archive_given = false;
  IntervalValue retain;
  IntervalValue schedule;
  int64_t batch_size = 0;  // 0: the engine chooses (not passed)
  bool has_max_runtime = false;
  IntervalValue max_runtime;
  bool has_max_rows_per_second = false;
  int64_t max_rows_per_second = 0;
  bool has_target_batch_time = false;
  IntervalValue target_batch_time;
  bool in_alter = false;
};

// The first failing check of ValidatePolicyName, ValidateModeText,
// ValidateArchiveTableForMode, ValidateRetain, ValidateSchedule,
// ValidateBatchSize, ValidateMaxRuntime, ValidateMaxRowsPerSecond and
// ValidateTargetBatchTime, in that order; Ok when all pass.
Status ValidatePolicySettings(const PolicySettings& s);

}  // namespace pg_retention::core
