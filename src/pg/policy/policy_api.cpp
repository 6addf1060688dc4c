// policy_api.cpp: the SQL functions that manage policies: add_policy,
// alter_policy, drop_policy, pause and resume. Each checks its input fully
// before it changes anything; the caller's transaction makes the change
// atomic. Only the table owner may add a policy, only the policy owner (or a
// member of that role, or a superuser) may change it.
#include "core/policy_model.hpp"
#include "pg/policy/archive_table.hpp"
#include "pg/policy/catalog.hpp"
#include "pg/run/replication_origin.hpp"
#include "pg/policy/expression.hpp"
#include "pg/module/guard.hpp"
#include "pg/policy/relation_info.hpp"
#include "pg/module/session.hpp"

extern "C" {
#include "postgres.h"

#include "access/xlog.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/syscache.h"
#include "storage/lmgr.h"
#include "catalog/pg_authid.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

PGDLLEXPORT Datum retention_add_policy(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum retention_alter_policy(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum retention_drop_policy(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum retention_pause(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum retention_resume(PG_FUNCTION_ARGS);
PG_FUNCTION_INFO_V1(retention_add_policy);
PG_FUNCTION_INFO_V1(retention_alter_policy);
PG_FUNCTION_INFO_V1(retention_drop_policy);
PG_FUNCTION_INFO_V1(retention_pause);
PG_FUNCTION_INFO_V1(retention_resume);
}

using namespace pg_retention;
using namespace pg_retention::pg;

namespace {

void PreventDuringRecovery() {
  if (RecoveryInProgress())
    ereport(ERROR, (errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
                    errmsg("cannot change retention policies during recovery"),
                    errhint("Change policies on the primary server.")));
}

core::IntervalValue ToCore(Datum interval) {
  Interval* iv = DatumGetIntervalP(interval);
  core::IntervalValue v;
  v.months = iv->month;
  v.days = iv->day;
  v.microseconds = iv->time;
  return v;
}

// alter_policy takes '0' to remove an interval setting.
bool IsZeroInterval(Datum interval) {
  const Interval* iv = DatumGetIntervalP(interval);
  return iv->month == 0 && iv->day == 0 && iv->time == 0;
}

// The settings a caller asks for, as plain values the core can check.
struct Settings {
  const char* mode_text;
  Datum retain;
  Datum schedule;
  int64_t batch_size;  // 0 = engine chooses
  bool archive_given;
  const char* name;
  bool in_alter;
  Datum max_runtime;  // 0: none
  int64_t max_rows_per_second;  // 0: none
  Datum target_batch_time;  // 0: follow retention.target_batch_time
};

void CheckSettings(const Settings* s) {
  CoreError err;
  if (!CallCore(&err, [&]() {
        core::Status st = core::ValidatePolicyName(s->name);
        if (!st.ok()) return st;
        st = core::ValidateModeText(s->mode_text);
        if (!st.ok()) return st;
        st = core::ValidateArchiveTableForMode(*core::ParseMode(s->mode_text), s->archive_given);
        if (!st.ok()) return st;
        st = core::ValidateRetain(ToCore(s->retain));
        if (!st.ok()) return st;
        st = core::ValidateSchedule(ToCore(s->schedule));
        if (!st.ok()) return st;
        if (s->batch_size != 0) st = core::ValidateBatchSize(s->batch_size, s->in_alter);
        if (!st.ok()) return st;
        if (s->max_runtime) st = core::ValidateMaxRuntime(ToCore(s->max_runtime));
        if (!st.ok()) return st;
        if (s->max_rows_per_second < 0)
          st = core::Status::Error(core::ErrorKind::kInvalidParameterValue,
                                   "max_rows_per_second must be greater than zero", "",
                                   s->in_alter ? "Pass 0 to remove the limit."
                                               : "Pass NULL for no limit.");
        if (!st.ok()) return st;
        if (s->target_batch_time)
          st = core::ValidateTargetBatchTime(ToCore(s->target_batch_time), s->in_alter);
        return st;
      }))
    RaiseCoreError(&err);
}

// retain => '30' means 30 seconds: say so, in case days were meant.
void NoticeUnitlessRetain(Datum retain) {
  core::IntervalValue value = ToCore(retain);  // converted before the guard
  bool unitless = false;
  CoreError err;
  if (!CallCore(&err, [&]() {
        unitless = core::RetainLooksUnitless(value);
        return core::Status::Ok();
      }))
    RaiseCoreError(&err);
  if (unitless)
    ereport(NOTICE,
            (errmsg("retain is %g seconds", static_cast<double>(value.microseconds) / 1e6),
             errhint("An interval written without a unit is read as seconds; write the unit, "
                     "such as '30 days'.")));
}

void RequireArgument(FunctionCallInfo fcinfo, int arg, const char* name) {
  if (PG_ARGISNULL(arg))
    ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("%s must not be null", name)));
}

// The policy's owner (or a member, or a superuser) may manage it, and so may
// the table's current owner, who can take over or drop a policy left behind
// by an earlier owner of the table.
void RequirePolicyOwner(const PolicyRecord* rec) {
  if (!CurrentUserManages(rec->owner, rec->relid))
    ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                    errmsg("must be owner of retention policy \"%s\"", rec->name)));
}

// A name that spells a qualified table name is reserved for that table's
// policy (see SECURITY.md).
// Locks the role that is to own a policy, as PostgreSQL does before it
// records an owner dependency, so that a concurrent DROP ROLE either
// finishes first (and the role is gone) or sees the policy (role_hooks.cpp).
void LockOwnerRole(Oid owner) {
  LockSharedObject(AuthIdRelationId, owner, 0, AccessShareLock);
  if (!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(owner)))
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                    errmsg("role with OID %u does not exist", owner)));
}

void CheckNameForTable(const char* name, Oid relid) {
  const char* default_name = DefaultPolicyName(relid);
  CoreError err;
  if (!CallCore(&err, [&]() { return core::ValidatePolicyNameForTable(name, default_name); }))
    RaiseCoreError(&err);
}

AnalyzedExpression Analyze(unsigned int relid, const char* text, ExprRole role, bool stored,
                           const ExpressionOwners* owners) {
  return stored ? AnalyzeStoredExpression(relid, text, role, owners)
                : AnalyzeUserExpression(relid, text, role, owners);
}

// Validates the expressions and the table, fills the derived fields of rec
// (canonical expressions, column lists) and prepares the archive table.
// A new expression is read with the caller's settings, as any SQL the caller
// writes, and stored in canonical form; a stored one is read back as runs
// read it. Whatever can reach user code (index matching folds constants)
// runs in the sandbox, as the table's owner.
void PreparePolicy(PolicyRecord* rec, const char* expires_text, bool stored_expires,
                   const char* filter_text, bool stored_filter) {
  CheckPolicySourceTable(rec->relid);
  ExpressionOwners owners;
  owners.table_owner = RelationOwner(rec->relid);
  owners.policy_owner = rec->owner;
  owners.timezone = rec->timezone;

  AnalyzedExpression expires =
      Analyze(rec->relid, expires_text, ExprRole::kExpiresAt, stored_expires, &owners);
  AnalyzedExpression filter;
  bool has_filter = filter_text != nullptr && filter_text[0] != '\0';
  if (has_filter)
    filter = Analyze(rec->relid, filter_text, ExprRole::kFilter, stored_filter, &owners);

  rec->expires_at = expires.canonical;
  rec->filter = has_filter ? filter.canonical : nullptr;
  int count;
  int16_t* attnums = MergeAttnums(&expires, has_filter ? &filter : nullptr, &count);
  rec->ncolumns = count;
  rec->column_attnums = attnums;
  rec->column_names = static_cast<char**>(palloc0(sizeof(char*) * (count + 1)));
  for (int i = 0; i < count; ++i)
    rec->column_names[i] = get_attname(rec->relid, attnums[i], false);

  Sandbox sandbox;
  BeginSandbox(owners.table_owner, owners.timezone, &sandbox);
  SourceInfo* source = DescribeSource(rec->relid, &expires);
  EndSandbox(&sandbox);
  CheckReferencingForeignKeys(rec->relid, rec->mode == 1);
  if (rec->mode == 1) {
    if (rec->archive_relid == InvalidOid)
      rec->archive_relid = CreateDefaultArchiveTable(source, owners.table_owner);
    else
      CheckArchiveTable(rec->archive_relid, source, owners.table_owner);
  }
}

}  // namespace

Datum retention_add_policy(PG_FUNCTION_ARGS) {
  PreventDuringRecovery();
  RequireArgument(fcinfo, 0, "relation");
  RequireArgument(fcinfo, 1, "expires_at");

  Oid relid = PG_GETARG_OID(0);
  char* expires_text = text_to_cstring(PG_GETARG_TEXT_PP(1));
  Settings s;
  s.in_alter = false;
  s.retain = PG_ARGISNULL(2) ? DirectFunctionCall3(interval_in, CStringGetDatum("0"),
                                                   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1))
                             : PG_GETARG_DATUM(2);
  s.mode_text = PG_ARGISNULL(3) ? "delete" : text_to_cstring(PG_GETARG_TEXT_PP(3));
  s.archive_given = !PG_ARGISNULL(4);
  char* filter_text = PG_ARGISNULL(5) ? nullptr : text_to_cstring(PG_GETARG_TEXT_PP(5));
  if (get_rel_name(relid) == nullptr)
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
                    errmsg("relation with OID %u does not exist", relid)));
  s.name = PG_ARGISNULL(6) ? DefaultPolicyName(relid) : text_to_cstring(PG_GETARG_TEXT_PP(6));
  s.schedule = PG_ARGISNULL(7)
                   ? DirectFunctionCall3(interval_in, CStringGetDatum("1 hour"),
                                         ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1))
                   : PG_GETARG_DATUM(7);
  s.batch_size = PG_ARGISNULL(8) ? 0 : PG_GETARG_INT32(8);
  if (!PG_ARGISNULL(8) && s.batch_size == 0) s.batch_size = -1;  // 0 is invalid here
  bool enabled = PG_ARGISNULL(9) ? true : PG_GETARG_BOOL(9);
  s.max_runtime = PG_ARGISNULL(10) ? 0 : PG_GETARG_DATUM(10);
  s.max_rows_per_second = PG_ARGISNULL(11) ? 0 : PG_GETARG_INT32(11);
  if (!PG_ARGISNULL(11) && s.max_rows_per_second == 0) s.max_rows_per_second = -1;
  s.target_batch_time = PG_ARGISNULL(12) ? 0 : PG_GETARG_DATUM(12);
  bool replicate_deletes = PG_NARGS() <= 13 || PG_ARGISNULL(13) || PG_GETARG_BOOL(13);
  if (!replicate_deletes) RequireOriginFiltering();
  if (filter_text != nullptr && filter_text[0] == '\0') filter_text = nullptr;

  CheckSettings(&s);
  CheckNameForTable(s.name, relid);
  if (!PG_ARGISNULL(2)) NoticeUnitlessRetain(s.retain);

  SPI_connect();
  if (PolicyNameExists(s.name))
    ereport(ERROR,
            (errcode(ERRCODE_DUPLICATE_OBJECT),
             errmsg("retention policy \"%s\" already exists", s.name),
             PG_ARGISNULL(6)
                 ? errhint("Give the new policy its own name with name => '...'.")
                 : errhint("Choose another name, or change the existing policy with "
                           "retention.alter_policy().")));

  PolicyRecord rec;
  memset(&rec, 0, sizeof(rec));
  strlcpy(rec.name, s.name, sizeof(rec.name));
  rec.relid = relid;
  rec.retain = s.retain;
  rec.schedule = s.schedule;
  rec.mode = strcmp(s.mode_text, "archive") == 0 ? 1 : 0;
  rec.archive_relid = s.archive_given ? PG_GETARG_OID(4) : InvalidOid;
  rec.batch_size = static_cast<int32_t>(s.batch_size);
  rec.enabled = enabled;
  rec.max_runtime = s.max_runtime;
  rec.max_rows_per_second = static_cast<int32_t>(s.max_rows_per_second);
  rec.target_batch_time = s.target_batch_time;
  rec.owner = GetUserId();
  LockOwnerRole(rec.owner);
  rec.timezone = pstrdup(GetConfigOption("TimeZone", false, false));

  PreparePolicy(&rec, expires_text, false, filter_text, false);
  InsertPolicy(&rec);
  if (!replicate_deletes) {
    SetPolicyReplicateDeletes(rec.name, false);
    EnsureRetentionOrigin();
  }
  SPI_finish();

  PG_RETURN_TEXT_P(cstring_to_text(s.name));
}

Datum retention_alter_policy(PG_FUNCTION_ARGS) {
  PreventDuringRecovery();
  RequireArgument(fcinfo, 0, "name");
  char* name = text_to_cstring(PG_GETARG_TEXT_PP(0));

  SPI_connect();
  PolicyRecord* rec = LoadPolicy(name, false);
  RequirePolicyOwner(rec);

  bool new_expires = !PG_ARGISNULL(1);
  bool new_filter = !PG_ARGISNULL(5);
  char* expires_text = new_expires ? text_to_cstring(PG_GETARG_TEXT_PP(1)) : rec->expires_at;
  char* filter_text = new_filter ? text_to_cstring(PG_GETARG_TEXT_PP(5)) : rec->filter;

  Settings s;
  s.in_alter = true;
  s.name = rec->name;
  s.retain = PG_ARGISNULL(2) ? rec->retain : PG_GETARG_DATUM(2);
  s.mode_text = PG_ARGISNULL(3) ? (rec->mode == 1 ? "archive" : "delete")
                                : text_to_cstring(PG_GETARG_TEXT_PP(3));
  s.archive_given = !PG_ARGISNULL(4);
  s.schedule = PG_ARGISNULL(6) ? rec->schedule : PG_GETARG_DATUM(6);
  s.batch_size = PG_ARGISNULL(7) ? rec->batch_size : PG_GETARG_INT32(7);
  s.max_runtime = rec->max_runtime;
  // '0' removes the limit.
  if (!PG_ARGISNULL(9)) s.max_runtime = IsZeroInterval(PG_GETARG_DATUM(9)) ? 0 : PG_GETARG_DATUM(9);
  s.max_rows_per_second = PG_ARGISNULL(10) ? rec->max_rows_per_second : PG_GETARG_INT32(10);
  s.target_batch_time = rec->target_batch_time;
  if (!PG_ARGISNULL(11))
    s.target_batch_time = IsZeroInterval(PG_GETARG_DATUM(11)) ? 0 : PG_GETARG_DATUM(11);
  CheckSettings(&s);
  if (!PG_ARGISNULL(2)) NoticeUnitlessRetain(s.retain);
  rec->max_runtime = s.max_runtime;
  rec->max_rows_per_second = static_cast<int32_t>(s.max_rows_per_second);
  rec->target_batch_time = s.target_batch_time;

  int new_mode = strcmp(s.mode_text, "archive") == 0 ? 1 : 0;
  if (s.archive_given)
    rec->archive_relid = PG_GETARG_OID(4);
  else if (new_mode == 0)
    rec->archive_relid = InvalidOid;
  rec->mode = new_mode;
  rec->retain = s.retain;
  rec->schedule = s.schedule;
  rec->batch_size = static_cast<int32_t>(s.batch_size);
  if (!PG_ARGISNULL(8)) rec->enabled = PG_GETARG_BOOL(8);

  // The table's owner takes over a policy that is not (or no longer) theirs.
  if (!CurrentUserActsAs(rec->owner)) rec->owner = GetUserId();
  LockOwnerRole(rec->owner);

  // A stored expression that no longer parses (a column was renamed) must be
  // replaced in this call; the error says which.
  PreparePolicy(rec, expires_text, !new_expires, filter_text, !new_filter);
  UpdatePolicy(rec);
  if (!PG_ARGISNULL(6)) RescheduleAfterAlter(rec->id);
  if (PG_NARGS() > 12 && !PG_ARGISNULL(12)) {
    bool replicate_deletes = PG_GETARG_BOOL(12);
    if (!replicate_deletes) {
      RequireOriginFiltering();
      EnsureRetentionOrigin();
    }
    SetPolicyReplicateDeletes(rec->name, replicate_deletes);
  }
  SPI_finish();
  PG_RETURN_VOID();
}

Datum retention_drop_policy(PG_FUNCTION_ARGS) {
  PreventDuringRecovery();
  char* name = text_to_cstring(PG_GETARG_TEXT_PP(0));
  SPI_connect();
  PolicyRecord* rec = LoadPolicy(name, false);
  RequirePolicyOwner(rec);
  DeletePolicy(rec->id);
  SPI_finish();
  PG_RETURN_VOID();
}

static Datum SetPaused(FunctionCallInfo fcinfo, bool paused) {
  PreventDuringRecovery();
  char* name = text_to_cstring(PG_GETARG_TEXT_PP(0));
  SPI_connect();
  PolicyRecord* rec = LoadPolicy(name, false);
  RequirePolicyOwner(rec);
  SetPolicyPaused(rec->id, paused);
  SPI_finish();
  PG_RETURN_VOID();
}

Datum retention_pause(PG_FUNCTION_ARGS) { return SetPaused(fcinfo, true); }

Datum retention_resume(PG_FUNCTION_ARGS) { return SetPaused(fcinfo, false); }
