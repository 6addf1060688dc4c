// policy_model.cpp: validation of policy settings (see policy_model.hpp).
#include "core/policy_model.hpp"

namespace pg_retention::core {

namespace {

// An interval is negative when any of its parts is, or when it sums below
// zero under PostgreSQL's own 30-day-month convention.
bool IsNegative(const IntervalValue& v) {
  const long double kUsecPerDay = 86400.0L * 1000000.0L;
  long double total = static_cast<long double>(v.months) * 30.0L * kUsecPerDay +
                      static_cast<long double>(v.days) * kUsecPerDay +
                      static_cast<long double>(v.microseconds);
  return total < 0 || v.months < 0 || v.days < 0 || v.microseconds < 0;
}

bool IsZero(const IntervalValue& v) { return v.months == 0 && v.days == 0 && v.microseconds == 0; }

}  // namespace

std::optional<Mode> ParseMode(const std::string& text) {
  if (text == "delete") return Mode::kDelete;
  if (text == "archive") return Mode::kArchive;
  return std::nullopt;
}

const char* ModeName(Mode mode) { return mode == Mode::kArchive ? "archive" : "delete"; }

Status ValidateModeText(const std::string& text) {
  if (ParseMode(text)) return Status::Ok();
  return Status::Error(ErrorKind::kInvalidParameterValue, "invalid retention mode \"" + text + "\"",
                       "", "Valid modes are \"delete\" and \"archive\".");
}

Status ValidatePolicyName(const std::string& name) {
  if (name.empty()) return Status::Error(ErrorKind::kInvalidName, "policy name must not be empty");
  if (name.size() > kMaxPolicyNameBytes)
    return Status::Error(
        ErrorKind::kInvalidName, "policy name \"" + name + "\" is too long",
        "Policy names are limited to " + std::to_string(kMaxPolicyNameBytes) + " bytes.");
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f)
      return Status::Error(ErrorKind::kInvalidName,
                           "policy name must not contain control characters");
  }
  return Status::Ok();
}

Status ValidateBatchSize(int64_t batch_size, bool in_alter) {
  if (batch_size <= 0)
    return Status::Error(ErrorKind::kInvalidParameterValue, "batch_size must be greater than zero",
                         "",
                         in_alter ? "Pass 0 to let the engine choose the batch size."
                                  : "Pass NULL to let the engine choose the batch size.");
  return Status::Ok();
}

Status ValidateRetain(const IntervalValue& retain) {
  if (IsNegative(retain))
    return Status::Error(
        ErrorKind::kInvalidParameterValue, "retain must not be negative", "",
        "Use an interval such as '30 days', or '0' to purge rows as soon as they expire.");
  // Each part on its own, and together counting a month as 31 days.
  constexpr int64_t kMaxMonths = kMaxRetainYears * 12;
  constexpr int64_t kMaxDays = kMaxRetainYears * 366;
  constexpr int64_t kMaxMicroseconds = kMaxDays * 86400LL * 1000000LL;
  if (retain.months > kMaxMonths || retain.days > kMaxDays ||
      retain.microseconds > kMaxMicroseconds ||
      static_cast<int64_t>(retain.months) * 31 + retain.days + retain.microseconds / 86400000000LL >
          kMaxMonths * 31)
    return Status::Error(ErrorKind::kInvalidParameterValue, "retain is too long",
                         "retain may be at most " + std::to_string(kMaxRetainYears) + " years.",
                         "To keep rows for good, do not give their table a policy.");
  return Status::Ok();
}

bool RetainLooksUnitless(const IntervalValue& retain) {
  return retain.months == 0 && retain.days == 0 && retain.microseconds > 0 &&
         retain.microseconds < 60LL * 1000000LL;
}

Status ValidatePolicyNameForTable(const std::string& name, const std::string& default_name) {
  if (name != default_name && name.find_first_of(".\"") != std::string::npos)
    return Status::Error(ErrorKind::kInvalidName,
                         "policy name \"" + name + "\" is reserved for the table it names",
                         "A name with a period or a double quote is the default name of the "
                         "policy of the table \"schema\".\"table\" it spells.",
                         "Choose a name without a period or a double quote, or leave name out to "
                         "get \"" +
                             default_name + "\".");
  return Status::Ok();
}

Status ValidateSchedule(const IntervalValue& schedule) {
  if (IsNegative(schedule) || IsZero(schedule))
    return Status::Error(ErrorKind::kInvalidParameterValue, "schedule must be a positive interval",
                         "", "Use an interval such as '1 hour'.");
  return Status::Ok();
}

Status ValidateMaxRows(int64_t max_rows) {
  if (max_rows <= 0)
    return Status::Error(ErrorKind::kInvalidParameterValue, "max_rows must be greater than zero",
                         "", "Pass NULL to run until no purgeable row is left.");
  return Status::Ok();
}

Status ValidateMaxRuntime(const IntervalValue& max_runtime) {
  if (IsNegative(max_runtime) || IsZero(max_runtime))
    return Status::Error(ErrorKind::kInvalidParameterValue,
                         "max_runtime must be a positive interval", "",
                         "Use an interval such as '5 minutes', or NULL for no limit.");
  return Status::Ok();
}

Status ValidateTargetBatchTime(const IntervalValue& target, bool in_alter) {
  if (target.months != 0 || target.days != 0 || target.microseconds < kMinTargetBatchTimeUs ||
      target.microseconds > kMaxTargetBatchTimeUs)
    return Status::Error(ErrorKind::kInvalidParameterValue,
                         "target_batch_time must be between 1 millisecond and 1 minute", "",
                         in_alter ? "Use an interval such as '100 milliseconds', or '0' to "
                                    "follow retention.target_batch_time again."
                                  : "Use an interval such as '100 milliseconds', or NULL to "
                                    "follow retention.target_batch_time.");
  return Status::Ok();
}

int32_t TargetBatchTimeMs(const IntervalValue& target) {
  return static_cast<int32_t>(target.microseconds / 1000);
}

Status ValidateArchiveTableForMode(Mode mode, bool archive_table_given) {
  if (mode == Mode::kDelete && archive_table_given)
    return Status::Error(ErrorKind::kInvalidParameterValue,
                         "archive_table can only be used with mode \"archive\"", "",
                         "Pass mode => 'archive', or leave archive_table out.");
  return Status::Ok();
}

Status ValidateMaxRowsPerSecond(int64_t rate, bool in_alter) {
  if (rate > 0 || (in_alter && rate == 0)) return Status::Ok();
  return Status::Error(ErrorKind::kInvalidParameterValue,
                       "max_rows_per_second must be greater than zero", "",
                       in_alter ? "Pass 0 to remove the limit." : "Pass NULL for no limit.");
}

Status ValidatePolicySettings(const PolicySettings& s) {
  Status st = ValidatePolicyName(s.name);
  if (!st.ok()) return st;
  st = ValidateModeText(s.mode_text);
  if (!st.ok()) return st;
  st = ValidateArchiveTableForMode(*ParseMode(s.mode_text), s.archive_given);
  if (!st.ok()) return st;
  st = ValidateRetain(s.retain);
  if (!st.ok()) return st;
  st = ValidateSchedule(s.schedule);
  if (!st.ok()) return st;
  if (s.batch_size != 0) st = ValidateBatchSize(s.batch_size, s.in_alter);
  if (!st.ok()) return st;
  if (s.has_max_runtime) st = ValidateMaxRuntime(s.max_runtime);
  if (!st.ok()) return st;
  if (s.has_max_rows_per_second) st = ValidateMaxRowsPerSecond(s.max_rows_per_second, s.in_alter);
  if (!st.ok()) return st;
  if (s.has_target_batch_time) st = ValidateTargetBatchTime(s.target_batch_time, s.in_alter);
  return st;
}

}  // namespace pg_retention::core
