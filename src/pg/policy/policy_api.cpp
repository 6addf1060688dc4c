// policy_api.cpp: the SQL functions that manage policies: add_policy,
// alter_policy, drop_policy, pause and resume. Each checks its input fully
// before it changes anything; the caller's transaction makes the change
// atomic. Only the table owner may add a policy, only the policy owner (or a
// member of that role, or a superuser) may change it.
#include "core/policy_model.hpp"
#include "pg/policy/archive_partitions.hpp"
#include "pg/policy/archive_retain.hpp"
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

namespace pg_retention::pg {

namespace {

void PreventDuringRecovery() {
  if (RecoveryInProgress())
    ereport(ERROR, (errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
                    errmsg("cannot change retention policies during recovery"),
                    errhint("Change policies on the primary server.")));
}

// An interval argument as the core's plain value (outside any guard).
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

// What the caller asked for beside the settings that go straight into the
// PolicyRecord: the mode as written, and which optional arguments were given.
struct Request {
  const char* name;  // may be too long for PolicyRecord::name until checked
  const char* mode_text;
  bool archive_given;
  bool has_max_rows_per_second;
  bool in_alter;
};

// Converts every setting to a core value first; the core checks them all.
void CheckSettings(const PolicyRecord* rec, const Request* req) {
  core::PolicySettings in;
  in.name = req->name;
  in.mode_text = req->mode_text;
  in.archive_given = req->archive_given;
  in.retain = ToCore(rec->retain);
  in.schedule = ToCore(rec->schedule);
  in.batch_size = rec->batch_size;
  in.has_max_runtime = rec->max_runtime != 0;
  if (in.has_max_runtime) in.max_runtime = ToCore(rec->max_runtime);
  in.has_max_rows_per_second = req->has_max_rows_per_second;
  in.max_rows_per_second = rec->max_rows_per_second;
  in.has_target_batch_time = rec->target_batch_time != 0;
  if (in.has_target_batch_time) in.target_batch_time = ToCore(rec->target_batch_time);
  in.in_alter = req->in_alter;
  CoreError err;
  if (!CallCore(&err, core::ValidatePolicySettings, in)) RaiseCoreError(&err);
}

// retain => '30' means 30 seconds: say so, in case days were meant.
void NoticeUnitlessRetain(Datum retain) {
  core::IntervalValue value = ToCore(retain);
  bool unitless = false;
  CoreError err;
  if (!CallCore(
          &err,
          [](const core::IntervalValue& v, bool* out) {
            *out = core::RetainLooksUnitless(v);
            return core::Status::Ok();
          },
          value, &unitless))
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
    ereport(ERROR,
            (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("role with OID %u does not exist", owner)));
}

void CheckNameForTable(const char* name, Oid relid) {
  const char* default_name = DefaultPolicyName(relid);
  CoreError err;
  if (!CallCore(
          &err, [](const char* n, const char* d) { return core::ValidatePolicyNameForTable(n, d); },
          name, default_name))
    RaiseCoreError(&err);
}

AnalyzedExpression Analyze(Oid relid, const char* text, ExprRole role, bool stored,
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
  for (int i = 0; i < count; ++i) rec->column_names[i] = get_attname(rec->relid, attnums[i], false);

  Sandbox sandbox;
  BeginSandbox(owners.table_owner, owners.timezone, &sandbox);
  SourceInfo* source = DescribeSource(rec->relid, &expires);
  EndSandbox(&sandbox);
  CheckReferencingForeignKeys(rec->relid, rec->mode == core::Mode::kArchive);
  if (rec->mode == core::Mode::kArchive) {
    if (rec->archive_relid == InvalidOid)
      rec->archive_relid = CreateDefaultArchiveTable(source, owners.table_owner);
    else
      CheckArchiveTable(rec->archive_relid, source, owners.table_owner);
  }
}

Datum IntervalIn(const char* text) {
  return DirectFunctionCall3(interval_in, CStringGetDatum(text), ObjectIdGetDatum(InvalidOid),
                             Int32GetDatum(-1));
}

// add_policy's settings, straight into rec (name and mode stay in req until
// they are checked).
void ReadAddArguments(FunctionCallInfo fcinfo, PolicyRecord* rec, Request* req) {
  memset(rec, 0, sizeof(*rec));
  req->in_alter = false;
  rec->relid = PG_GETARG_OID(0);
  rec->retain = PG_ARGISNULL(2) ? IntervalIn("0") : PG_GETARG_DATUM(2);
  req->mode_text = PG_ARGISNULL(3) ? "delete" : text_to_cstring(PG_GETARG_TEXT_PP(3));
  req->archive_given = !PG_ARGISNULL(4);
  rec->archive_relid = req->archive_given ? PG_GETARG_OID(4) : InvalidOid;
  if (get_rel_name(rec->relid) == nullptr)
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
                    errmsg("relation with OID %u does not exist", rec->relid)));
  req->name =
      PG_ARGISNULL(6) ? DefaultPolicyName(rec->relid) : text_to_cstring(PG_GETARG_TEXT_PP(6));
  rec->schedule = PG_ARGISNULL(7) ? IntervalIn("1 hour") : PG_GETARG_DATUM(7);
  rec->batch_size = PG_ARGISNULL(8) ? 0 : PG_GETARG_INT32(8);
  if (!PG_ARGISNULL(8) && rec->batch_size == 0) rec->batch_size = -1;  // 0 is invalid here
  rec->enabled = PG_ARGISNULL(9) ? true : PG_GETARG_BOOL(9);
  rec->max_runtime = PG_ARGISNULL(10) ? 0 : PG_GETARG_DATUM(10);
  req->has_max_rows_per_second = !PG_ARGISNULL(11);
  rec->max_rows_per_second = PG_ARGISNULL(11) ? 0 : PG_GETARG_INT32(11);
  rec->target_batch_time = PG_ARGISNULL(12) ? 0 : PG_GETARG_DATUM(12);
}

Datum AddPolicy(FunctionCallInfo fcinfo) {
  PreventDuringRecovery();
  RequireArgument(fcinfo, 0, "relation");
  RequireArgument(fcinfo, 1, "expires_at");

  char* expires_text = text_to_cstring(PG_GETARG_TEXT_PP(1));
  char* filter_text = PG_ARGISNULL(5) ? nullptr : text_to_cstring(PG_GETARG_TEXT_PP(5));
  if (filter_text != nullptr && filter_text[0] == '\0') filter_text = nullptr;
  PolicyRecord rec;
  Request req;
  ReadAddArguments(fcinfo, &rec, &req);
  bool replicate_deletes = PG_NARGS() <= 13 || PG_ARGISNULL(13) || PG_GETARG_BOOL(13);
  if (!replicate_deletes) RequireOriginFiltering();

  CheckSettings(&rec, &req);
  CheckNameForTable(req.name, rec.relid);
  if (!PG_ARGISNULL(2)) NoticeUnitlessRetain(rec.retain);

  SPI_connect();
  if (PolicyNameExists(req.name))
    ereport(ERROR,
            (errcode(ERRCODE_DUPLICATE_OBJECT),
             errmsg("retention policy \"%s\" already exists", req.name),
             PG_ARGISNULL(6) ? errhint("Give the new policy its own name with name => '...'.")
                             : errhint("Choose another name, or change the existing policy with "
                                       "retention.alter_policy().")));

  strlcpy(rec.name, req.name, sizeof(rec.name));
  rec.mode = ModeFromText(req.mode_text);
  rec.owner = GetUserId();
  LockOwnerRole(rec.owner);
  rec.timezone = pstrdup(GetConfigOption("TimeZone", false, false));

  PreparePolicy(&rec, expires_text, false, filter_text, false);
  InsertPolicy(&rec);
  ApplyArchiveRetain(rec.name, PG_NARGS() > 14 && !PG_ARGISNULL(14),
                     PG_NARGS() > 14 && !PG_ARGISNULL(14) ? PG_GETARG_DATUM(14) : 0, false);
  ApplyArchivePartition(rec.name, PG_NARGS() > 15 && !PG_ARGISNULL(15),
                        PG_NARGS() > 15 && !PG_ARGISNULL(15) ? PG_GETARG_DATUM(15) : 0,
                        !PG_ARGISNULL(4));
  if (!replicate_deletes) {
    SetPolicyReplicateDeletes(rec.name, false);
    EnsureRetentionOrigin();
  }
  SPI_finish();

  PG_RETURN_TEXT_P(cstring_to_text(rec.name));
}

// alter_policy's settings over the stored ones in rec ('0' removes an
// interval limit); the mode stays in req until it is checked.
void ReadAlterArguments(FunctionCallInfo fcinfo, PolicyRecord* rec, Request* req) {
  req->in_alter = true;
  req->name = rec->name;
  if (!PG_ARGISNULL(2)) rec->retain = PG_GETARG_DATUM(2);
  req->mode_text = PG_ARGISNULL(3) ? ModeText(rec->mode) : text_to_cstring(PG_GETARG_TEXT_PP(3));
  req->archive_given = !PG_ARGISNULL(4);
  if (!PG_ARGISNULL(6)) rec->schedule = PG_GETARG_DATUM(6);
  if (!PG_ARGISNULL(7)) rec->batch_size = PG_GETARG_INT32(7);
  if (!PG_ARGISNULL(8)) rec->enabled = PG_GETARG_BOOL(8);
  if (!PG_ARGISNULL(9))
    rec->max_runtime = IsZeroInterval(PG_GETARG_DATUM(9)) ? 0 : PG_GETARG_DATUM(9);
  req->has_max_rows_per_second = true;  // the stored limit, or the new one
  if (!PG_ARGISNULL(10)) rec->max_rows_per_second = PG_GETARG_INT32(10);
  if (!PG_ARGISNULL(11))
    rec->target_batch_time = IsZeroInterval(PG_GETARG_DATUM(11)) ? 0 : PG_GETARG_DATUM(11);
}

Datum AlterPolicy(FunctionCallInfo fcinfo) {
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

  Request req;
  ReadAlterArguments(fcinfo, rec, &req);
  CheckSettings(rec, &req);
  if (!PG_ARGISNULL(2)) NoticeUnitlessRetain(rec->retain);

  rec->mode = ModeFromText(req.mode_text);
  if (req.archive_given)
    rec->archive_relid = PG_GETARG_OID(4);
  else if (rec->mode == core::Mode::kDelete)
    rec->archive_relid = InvalidOid;

  // The table's owner takes over a policy that is not (or no longer) theirs.
  if (!CurrentUserActsAs(rec->owner)) rec->owner = GetUserId();
  LockOwnerRole(rec->owner);

  // A stored expression that no longer parses (a column was renamed) must be
  // replaced in this call; the error says which.
  PreparePolicy(rec, expires_text, !new_expires, filter_text, !new_filter);
  UpdatePolicy(rec);
  ApplyArchiveRetain(rec->name, PG_NARGS() > 13 && !PG_ARGISNULL(13),
                     PG_NARGS() > 13 && !PG_ARGISNULL(13) ? PG_GETARG_DATUM(13) : 0, true);
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

Datum DropPolicy(FunctionCallInfo fcinfo) {
  PreventDuringRecovery();
  char* name = text_to_cstring(PG_GETARG_TEXT_PP(0));
  SPI_connect();
  PolicyRecord* rec = LoadPolicy(name, false);
  RequirePolicyOwner(rec);
  DeletePolicy(rec->id);
  SPI_finish();
  PG_RETURN_VOID();
}

Datum SetPaused(FunctionCallInfo fcinfo, bool paused) {
  PreventDuringRecovery();
  char* name = text_to_cstring(PG_GETARG_TEXT_PP(0));
  SPI_connect();
  PolicyRecord* rec = LoadPolicy(name, false);
  RequirePolicyOwner(rec);
  SetPolicyPaused(rec->id, paused);
  SPI_finish();
  PG_RETURN_VOID();
}

}  // namespace

}  // namespace pg_retention::pg

Datum retention_add_policy(PG_FUNCTION_ARGS) { return pg_retention::pg::AddPolicy(fcinfo); }

Datum retention_alter_policy(PG_FUNCTION_ARGS) { return pg_retention::pg::AlterPolicy(fcinfo); }

Datum retention_drop_policy(PG_FUNCTION_ARGS) { return pg_retention::pg::DropPolicy(fcinfo); }

Datum retention_pause(PG_FUNCTION_ARGS) { return pg_retention::pg::SetPaused(fcinfo, true); }

Datum retention_resume(PG_FUNCTION_ARGS) { return pg_retention::pg::SetPaused(fcinfo, false); }
