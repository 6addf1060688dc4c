// catalog.cpp: SPI access to the policy catalog and run history (see
// catalog.hpp). Every statement runs with the search_path pinned and as the
// extension owner, so a caller's objects can neither capture a name here nor
// be denied access to the catalog the API maintains for them.
#include "pg/policy/catalog.hpp"

#include <optional>

#include "core/policy_model.hpp"
#include "core/schedule.hpp"
#include "pg/module/guard.hpp"

#include "pg/module/session.hpp"

extern "C" {
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "catalog/pg_authid.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "storage/lmgr.h"
#include "utils/datum.h"
#include "common/pg_prng.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
}

namespace pg_retention::pg {

// Never read-only: SPI would then need an outer snapshot, which a background
// worker does not have.
int ExecCatalog(const char* sql, int nargs, Oid* types, Datum* values, const char* nulls,
                long limit) {
  CatalogWork work;
  BeginCatalogWork(&work);
  int rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, limit);
  EndCatalogWork(&work);
  if (rc < 0) elog(ERROR, "pg_retention catalog statement failed: %s", SPI_result_code_string(rc));
  return rc;
}

namespace {

char* TextOrNull(HeapTuple tup, TupleDesc desc, int col) {
  bool isnull;
  Datum d = SPI_getbinval(tup, desc, col, &isnull);
  return isnull ? nullptr : TextDatumGetCString(d);
}

// The first column of the last SPI result, as a palloc'd array of names.
char** NamesFromResult(int* count) {
  int n = static_cast<int>(SPI_processed);
  char** names = static_cast<char**>(palloc0(sizeof(char*) * (n + 1)));
  for (int i = 0; i < n; ++i)
    names[i] = TextOrNull(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
  *count = n;
  return names;
}

const char* kPolicyColumns =
    "SELECT p.id, p.name, p.relation::oid, p.expires_at, p.filter, p.retain, p.schedule,"
    "       p.mode, p.archive_table::oid, coalesce(p.batch_size, 0), p.enabled, p.paused,"
    "       p.owner::oid,"
    "       ((now() AT TIME ZONE p.timezone) - p.retain) AT TIME ZONE p.timezone,"
    "       p.expr_columns, p.expr_attnums, p.timezone, p.max_runtime,"
    "       s.cursor, s.cursor_kind, coalesce(p.max_rows_per_second, 0),"
    "       p.target_batch_time"
    "  FROM retention.policy p"
    "  LEFT JOIN retention.policy_state s ON s.policy_id = p.id ";

PolicyRecord* RecordFromTuple(HeapTuple tup, TupleDesc desc) {
  PolicyRecord* rec = static_cast<PolicyRecord*>(palloc0(sizeof(PolicyRecord)));
  bool isnull;
  rec->id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
  const char* name = TextOrNull(tup, desc, 2);  // whole characters only
  int len = pg_mbcliplen(name, strlen(name), sizeof(rec->name) - 1);
  memcpy(rec->name, name, len);
  rec->name[len] = '\0';
  rec->relid = DatumGetObjectId(SPI_getbinval(tup, desc, 3, &isnull));
  rec->expires_at = TextOrNull(tup, desc, 4);
  rec->filter = TextOrNull(tup, desc, 5);
  rec->retain = PointerGetDatum(
      DatumGetIntervalP(datumCopy(SPI_getbinval(tup, desc, 6, &isnull), false, sizeof(Interval))));
  rec->schedule = PointerGetDatum(
      DatumGetIntervalP(datumCopy(SPI_getbinval(tup, desc, 7, &isnull), false, sizeof(Interval))));
  rec->mode = ModeFromText(TextOrNull(tup, desc, 8));
  Datum archive = SPI_getbinval(tup, desc, 9, &isnull);
  rec->archive_relid = isnull ? InvalidOid : DatumGetObjectId(archive);
  rec->batch_size = DatumGetInt32(SPI_getbinval(tup, desc, 10, &isnull));
  rec->enabled = DatumGetBool(SPI_getbinval(tup, desc, 11, &isnull));
  rec->paused = DatumGetBool(SPI_getbinval(tup, desc, 12, &isnull));
  rec->owner = DatumGetObjectId(SPI_getbinval(tup, desc, 13, &isnull));
  rec->cutoff = DatumGetTimestampTz(SPI_getbinval(tup, desc, 14, &isnull));
  rec->timezone = TextOrNull(tup, desc, 17);
  Datum max_runtime = SPI_getbinval(tup, desc, 18, &isnull);
  rec->max_runtime =
      isnull ? 0
             : PointerGetDatum(DatumGetIntervalP(datumCopy(max_runtime, false, sizeof(Interval))));
  Datum cursor = SPI_getbinval(tup, desc, 19, &isnull);
  if (!isnull) {
    Datum* values;
    bool* value_nulls;
    deconstruct_array(DatumGetArrayTypeP(cursor), TEXTOID, -1, false, TYPALIGN_INT, &values,
                      &value_nulls, &rec->ncursor);
    rec->cursor = static_cast<char**>(palloc0(sizeof(char*) * (rec->ncursor + 1)));
    for (int i = 0; i < rec->ncursor; ++i)
      rec->cursor[i] = value_nulls[i] ? nullptr : TextDatumGetCString(values[i]);
  }
  rec->cursor_kind = TextOrNull(tup, desc, 20);
  rec->max_rows_per_second = DatumGetInt32(SPI_getbinval(tup, desc, 21, &isnull));
  Datum target = SPI_getbinval(tup, desc, 22, &isnull);
  rec->target_batch_time =
      isnull ? 0 : PointerGetDatum(DatumGetIntervalP(datumCopy(target, false, sizeof(Interval))));
  rec->replicate_deletes = true;  // see LoadReplicateDeletes

  ArrayType* names = DatumGetArrayTypeP(SPI_getbinval(tup, desc, 15, &isnull));
  ArrayType* attnums = DatumGetArrayTypeP(SPI_getbinval(tup, desc, 16, &isnull));
  Datum* name_datums;
  Datum* attnum_datums;
  int nnames, nattnums;
  deconstruct_array(names, NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR, &name_datums, NULL, &nnames);
  deconstruct_array(attnums, INT2OID, 2, true, TYPALIGN_SHORT, &attnum_datums, NULL, &nattnums);
  rec->ncolumns = nnames < nattnums ? nnames : nattnums;
  rec->column_names = static_cast<char**>(palloc0(sizeof(char*) * (rec->ncolumns + 1)));
  rec->column_attnums = static_cast<int16_t*>(palloc0(sizeof(int16_t) * (rec->ncolumns + 1)));
  for (int i = 0; i < rec->ncolumns; ++i) {
    rec->column_names[i] = pstrdup(NameStr(*DatumGetName(name_datums[i])));
    rec->column_attnums[i] = DatumGetInt16(attnum_datums[i]);
  }
  return rec;
}

// Builds the name[] and int2[] datums of a record's column list.
void ColumnArrays(const PolicyRecord* rec, Datum* names_out, Datum* attnums_out) {
  Datum* names = static_cast<Datum*>(palloc0(sizeof(Datum) * (rec->ncolumns + 1)));
  Datum* attnums = static_cast<Datum*>(palloc0(sizeof(Datum) * (rec->ncolumns + 1)));
  for (int i = 0; i < rec->ncolumns; ++i) {
    Name n = static_cast<Name>(palloc0(NAMEDATALEN));
    namestrcpy(n, rec->column_names[i]);
    names[i] = NameGetDatum(n);
    attnums[i] = Int16GetDatum(rec->column_attnums[i]);
  }
  *names_out = PointerGetDatum(
      construct_array(names, rec->ncolumns, NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR));
  *attnums_out =
      PointerGetDatum(construct_array(attnums, rec->ncolumns, INT2OID, 2, true, TYPALIGN_SHORT));
}

// The settings columns shared by INSERT and UPDATE, as $2..$17.
void SettingsArgs(const PolicyRecord* rec, Oid* types, Datum* values, char* nulls) {
  // clang-format off: one argument per line, type beside value
  types[1] = TEXTOID;
  values[1] = CStringGetTextDatum(rec->name);
  types[2] = OIDOID;
  values[2] = ObjectIdGetDatum(rec->relid);
  types[3] = TEXTOID;
  values[3] = CStringGetTextDatum(rec->expires_at);
  types[4] = INTERVALOID;
  values[4] = rec->retain;
  types[5] = TEXTOID;
  values[5] = CStringGetTextDatum(ModeText(rec->mode));
  types[6] = OIDOID;
  values[6] = ObjectIdGetDatum(rec->archive_relid);
  nulls[6] = rec->archive_relid == InvalidOid ? 'n' : ' ';
  types[7] = TEXTOID;
  values[7] = rec->filter ? CStringGetTextDatum(rec->filter) : (Datum) 0;
  nulls[7] = rec->filter ? ' ' : 'n';
  types[8] = INTERVALOID;
  values[8] = rec->schedule;
  types[9] = INT4OID;
  values[9] = Int32GetDatum(rec->batch_size);
  nulls[9] = rec->batch_size > 0 ? ' ' : 'n';
  types[10] = BOOLOID;
  values[10] = BoolGetDatum(rec->enabled);
  types[11] = OIDOID;
  values[11] = ObjectIdGetDatum(rec->owner);
  types[12] = NAMEARRAYOID;
  types[13] = INT2ARRAYOID;
  ColumnArrays(rec, &values[12], &values[13]);
  types[14] = INTERVALOID;
  values[14] = rec->max_runtime;
  nulls[14] = rec->max_runtime ? ' ' : 'n';
  types[15] = INT4OID;
  values[15] = Int32GetDatum(rec->max_rows_per_second);
  nulls[15] = rec->max_rows_per_second > 0 ? ' ' : 'n';
  types[16] = INTERVALOID;
  values[16] = rec->target_batch_time;
  nulls[16] = rec->target_batch_time ? ' ' : 'n';
  // clang-format on
}

// Writes a policy row with $1 = id and the settings as $2..$17.
void WritePolicy(const PolicyRecord* rec, const char* sql) {
  Oid types[17];
  Datum values[17];
  char nulls[18];
  memset(nulls, ' ', sizeof(nulls));
  nulls[17] = '\0';
  types[0] = INT4OID;
  values[0] = Int32GetDatum(rec->id);
  SettingsArgs(rec, types, values, nulls);
  ExecCatalog(sql, 17, types, values, nulls, 0);
}

}  // namespace

const char* ModeText(core::Mode mode) {
  const char* name = nullptr;  // a static string of the core
  CoreError err;
  if (!CallCore(
          &err,
          [](core::Mode m, const char** out) {
            *out = core::ModeName(m);
            return core::Status::Ok();
          },
          mode, &name))
    RaiseCoreError(&err);
  return name;
}

core::Mode ModeFromText(const char* text) {
  core::Mode mode = core::Mode::kDelete;
  CoreError err;
  if (!CallCore(
          &err,
          [](const char* t, core::Mode* out) {
            std::optional<core::Mode> parsed = core::ParseMode(t);
            if (!parsed) return core::ValidateModeText(t);
            *out = *parsed;
            return core::Status::Ok();
          },
          text, &mode))
    RaiseCoreError(&err);
  return mode;
}

int64_t IntervalMicroseconds(IntervalDatum interval) {
  const Interval* iv = DatumGetIntervalP(interval);
  return iv->time + iv->day * USECS_PER_DAY +
         static_cast<int64_t>(iv->month) * DAYS_PER_MONTH * USECS_PER_DAY;
}

namespace {

// replicate_deletes (0.2, issue #11) is read apart: while 0.1's catalog is
// installed the column does not exist, and add_policy, alter_policy and
// drop_policy still work there (no run does).
void LoadReplicateDeletes(PolicyRecord* rec) {
  Oid policy_rel = get_relname_relid("policy", get_namespace_oid("retention", false));
  if (get_attnum(policy_rel, "replicate_deletes") == InvalidAttrNumber) return;
  Oid types[1] = {INT4OID};
  Datum values[1] = {Int32GetDatum(rec->id)};
  ExecCatalog("SELECT replicate_deletes FROM retention.policy WHERE id = $1", 1, types, values,
              NULL, 1);
  bool isnull;
  if (SPI_processed == 1)
    rec->replicate_deletes =
        DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

}  // namespace

PolicyRecord* LoadPolicy(const char* name, bool missing_ok) {
  char* sql = psprintf("%s WHERE p.name = $1", kPolicyColumns);
  Oid types[1] = {TEXTOID};
  Datum values[1] = {CStringGetTextDatum(name)};
  ExecCatalog(sql, 1, types, values, NULL, 1);
  if (SPI_processed == 0) {
    if (missing_ok) return nullptr;
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                    errmsg("retention policy \"%s\" does not exist", name),
                    errhint("The policies are listed in the view retention.policies.")));
  }
  PolicyRecord* rec = RecordFromTuple(SPI_tuptable->vals[0], SPI_tuptable->tupdesc);
  LoadReplicateDeletes(rec);
  return rec;
}

char** ListRunnablePolicies(int* count) {
  ExecCatalog("SELECT name FROM retention.policy WHERE enabled AND NOT paused ORDER BY id", 0, NULL,
              NULL, NULL, 0);
  return NamesFromResult(count);
}

bool PolicyNameExists(const char* name) {
  Oid types[1] = {TEXTOID};
  Datum values[1] = {CStringGetTextDatum(name)};
  ExecCatalog("SELECT 1 FROM retention.policy WHERE name = $1", 1, types, values, NULL, 1);
  return SPI_processed > 0;
}

bool CurrentUserSeesPolicy(int32_t policy_id) {
  if (superuser() || has_privs_of_role(GetUserId(), ROLE_PG_MONITOR)) return true;
  Oid types[1] = {INT4OID};
  Datum values[1] = {Int32GetDatum(policy_id)};
  ExecCatalog("SELECT owner::pg_catalog.oid FROM retention.policy WHERE id = $1", 1, types, values,
              NULL, 1);
  if (SPI_processed == 0) return false;
  bool isnull;
  Oid owner =
      DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
  return !isnull && has_privs_of_role(GetUserId(), owner);
}

bool PolicyExists(int32_t id) {
  Oid types[1] = {INT4OID};
  Datum values[1] = {Int32GetDatum(id)};
  ExecCatalog("SELECT 1 FROM retention.policy WHERE id = $1", 1, types, values, NULL, 1);
  bool exists = SPI_processed > 0;
  SPI_freetuptable(SPI_tuptable);
  return exists;
}

void InsertPolicy(const PolicyRecord* rec) {
  WritePolicy(rec,
              "INSERT INTO retention.policy (name, relation, expires_at, retain, mode,"
              " archive_table, filter, schedule, batch_size, enabled, owner, expr_columns,"
              " expr_attnums, max_runtime, max_rows_per_second, target_batch_time)"
              " VALUES ($2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,"
              " $17)");
}

void UpdatePolicy(const PolicyRecord* rec) {
  WritePolicy(rec,
              "UPDATE retention.policy SET name = $2, relation = $3, expires_at = $4, retain = $5,"
              " mode = $6, archive_table = $7, filter = $8, schedule = $9, batch_size = $10,"
              " enabled = $11, owner = $12, expr_columns = $13, expr_attnums = $14,"
              " max_runtime = $15, max_rows_per_second = $16, target_batch_time = $17"
              " WHERE id = $1");
}

void DeletePolicy(int32_t id) {
  Oid types[1] = {INT4OID};
  Datum values[1] = {Int32GetDatum(id)};
  ExecCatalog("DELETE FROM retention.policy WHERE id = $1", 1, types, values, NULL, 0);
}

void SetPolicyPaused(int32_t id, bool paused) {
  Oid types[2] = {INT4OID, BOOLOID};
  Datum values[2] = {Int32GetDatum(id), BoolGetDatum(paused)};
  ExecCatalog("UPDATE retention.policy SET paused = $2 WHERE id = $1", 2, types, values, NULL, 0);
}

void SetPolicyReplicateDeletes(const char* name, bool replicate_deletes) {
  Oid types[2] = {TEXTOID, BOOLOID};
  Datum values[2] = {CStringGetTextDatum(name), BoolGetDatum(replicate_deletes)};
  ExecCatalog("UPDATE retention.policy SET replicate_deletes = $2 WHERE name = $1", 2, types,
              values, NULL, 0);
}

int64_t InsertRun(const PolicyRecord* rec, const char* trigger, const char* status,
                  int64_t started_at) {
  Oid types[8] = {INT4OID, TEXTOID,        TEXTOID,        INT4OID,
                  TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, OIDOID};
  Datum values[8] = {Int32GetDatum(rec->id),          CStringGetTextDatum(rec->name),
                     CStringGetTextDatum(trigger),    Int32GetDatum(MyProcPid),
                     CStringGetTextDatum(status),     TimestampTzGetDatum(rec->cutoff),
                     TimestampTzGetDatum(started_at), ObjectIdGetDatum(rec->owner)};
  // A skip right after a skip of the same policy adds to that row's count
  // (a long run must not flood the history with one row per attempt).
  if (strcmp(status, "skipped") == 0) {
    ExecCatalog(
        "UPDATE retention.run_history SET skipped_count = coalesce(skipped_count, 1) + 1,"
        " last_skipped_at = $7"
        " WHERE id = (SELECT max(id) FROM retention.run_history WHERE policy_id = $1)"
        "   AND status = 'skipped' RETURNING id",
        8, types, values, NULL, 0);
    if (SPI_processed > 0) {
      bool isnull;
      return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
    }
  }
  const char* finished = strcmp(status, "running") == 0 ? "NULL" : "$7";
  const char* skipped = strcmp(status, "skipped") == 0 ? "1, $7" : "NULL, NULL";
  char* sql = psprintf(
      "INSERT INTO retention.run_history (policy_id, policy, trigger, pid, started_at,"
      " finished_at, status, cutoff, owner, skipped_count, last_skipped_at)"
      " VALUES ($1, $2, $3, $4, $7, %s, $5, $6, $8, %s) RETURNING id",
      finished, skipped);
  ExecCatalog(sql, 8, types, values, NULL, 0);
  bool isnull;
  return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

void RecordBatch(int64_t run_id, int64_t rows_deleted, int64_t rows_archived) {
  Oid types[3] = {INT8OID, INT8OID, INT8OID};
  Datum values[3] = {Int64GetDatum(run_id), Int64GetDatum(rows_deleted),
                     Int64GetDatum(rows_archived)};
  ExecCatalog(
      "UPDATE retention.run_history SET rows_deleted = rows_deleted + $2,"
      " rows_archived = rows_archived + $3, batches = batches + 1 WHERE id = $1",
      3, types, values, NULL, 0);
}

void CloseStaleRuns(int32_t policy_id) {
  Oid types[1] = {INT4OID};
  Datum values[1] = {Int32GetDatum(policy_id)};
  ExecCatalog(
      "UPDATE retention.run_history SET status = 'interrupted',"
      " finished_at = coalesce(finished_at, clock_timestamp())"
      " WHERE policy_id = $1 AND status = 'running'",
      1, types, values, NULL, 0);
}

void MarkRunInterrupted(int64_t run_id, const char* sqlstate, const char* message) {
  Oid types[3] = {INT8OID, TEXTOID, TEXTOID};
  Datum values[3] = {Int64GetDatum(run_id), CStringGetTextDatum(sqlstate),
                     CStringGetTextDatum(message)};
  ExecCatalog(
      "UPDATE retention.run_history SET status = 'interrupted',"
      " finished_at = clock_timestamp(), sqlstate = $2, error = $3"
      " WHERE id = $1 AND status = 'running'",
      3, types, values, NULL, 0);
}

void FinishRun(int64_t run_id, const char* status, int64_t rows_deleted, int64_t rows_archived,
               int32_t batches, int32_t retries, const char* sqlstate, const char* error) {
  Oid types[8] = {INT8OID, TEXTOID, INT8OID, INT8OID, INT4OID, TEXTOID, TEXTOID, INT4OID};
  Datum values[8] = {Int64GetDatum(run_id),
                     CStringGetTextDatum(status),
                     Int64GetDatum(rows_deleted),
                     Int64GetDatum(rows_archived),
                     Int32GetDatum(batches),
                     sqlstate ? CStringGetTextDatum(sqlstate) : (Datum) 0,
                     error ? CStringGetTextDatum(error) : (Datum) 0,
                     Int32GetDatum(retries)};
  char nulls[9] = "        ";
  nulls[5] = sqlstate ? ' ' : 'n';
  nulls[6] = error ? ' ' : 'n';
  ExecCatalog(
      "UPDATE retention.run_history SET finished_at = clock_timestamp(), status = $2,"
      " rows_deleted = $3, rows_archived = $4, batches = $5, sqlstate = $6, error = $7,"
      " retries = $8 WHERE id = $1",
      8, types, values, nulls, 0);
}

void RecordRunOutcome(const PolicyRecord* rec, int64_t run_id, bool failed, bool partial,
                      int64_t started_at, int64_t finished_at, int64_t rows_deleted,
                      int64_t rows_archived) {
  Oid id_type[1] = {INT4OID};
  Datum id_value[1] = {Int32GetDatum(rec->id)};
  ExecCatalog("SELECT consecutive_failures FROM retention.policy_state WHERE policy_id = $1", 1,
              id_type, id_value, NULL, 1);
  int failures = 0;
  if (SPI_processed > 0) {
    bool isnull;
    failures =
        DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
  }
  failures = failed ? failures + 1 : 0;

  int64_t schedule_us = IntervalMicroseconds(rec->schedule);
  double draw = pg_prng_double(&pg_global_prng_state);
  int64_t next_run_at = 0;
  core::ScheduleInput in{started_at, finished_at, schedule_us, failures, draw, partial};
  CoreError err;
  if (!CallCore(
          &err,
          [](const core::ScheduleInput& i, int64_t* out) {
            *out = core::NextRunAt(i);
            return core::Status::Ok();
          },
          in, &next_run_at))
    RaiseCoreError(&err);

  Oid types[6] = {INT4OID, INT4OID, TIMESTAMPTZOID, INT8OID, INT8OID, INT8OID};
  Datum values[6] = {Int32GetDatum(rec->id),           Int32GetDatum(failures),
                     TimestampTzGetDatum(next_run_at), Int64GetDatum(rows_deleted),
                     Int64GetDatum(rows_archived),     Int64GetDatum(run_id)};
  ExecCatalog(
      "INSERT INTO retention.policy_state AS s (policy_id, consecutive_failures, next_run_at,"
      " total_rows_deleted, total_rows_archived, last_run_id)"
      " SELECT $1, $2, $3, $4, $5, $6"
      "  WHERE EXISTS (SELECT 1 FROM retention.policy WHERE id = $1)"  // dropped meanwhile
      " ON CONFLICT (policy_id) DO UPDATE SET consecutive_failures = $2, next_run_at = $3,"
      " total_rows_deleted = s.total_rows_deleted + $4,"
      " total_rows_archived = s.total_rows_archived + $5, last_run_id = $6",
      6, types, values, NULL, 0);
}

void PostponeAfterSkip(int32_t policy_id, int64_t next_run_at) {
  Oid types[2] = {INT4OID, TIMESTAMPTZOID};
  Datum values[2] = {Int32GetDatum(policy_id), TimestampTzGetDatum(next_run_at)};
  ExecCatalog(
      "INSERT INTO retention.policy_state AS s (policy_id, next_run_at)"
      " SELECT $1, $2 WHERE EXISTS (SELECT 1 FROM retention.policy WHERE id = $1)"
      " ON CONFLICT (policy_id) DO UPDATE SET next_run_at = $2",
      2, types, values, NULL, 0);
}

void SaveRunCursor(int32_t policy_id, const char* kind, char** values, int ncursor) {
  Oid types[3] = {INT4OID, TEXTARRAYOID, TEXTOID};
  Datum args[3] = {Int32GetDatum(policy_id), (Datum) 0, (Datum) 0};
  char nulls[4] = "nnn";
  nulls[0] = ' ';
  if (ncursor >= 0) {
    Datum* texts = static_cast<Datum*>(palloc0(sizeof(Datum) * (ncursor + 1)));
    for (int i = 0; i < ncursor; ++i) texts[i] = CStringGetTextDatum(values[i]);
    args[1] = PointerGetDatum(construct_array(texts, ncursor, TEXTOID, -1, false, TYPALIGN_INT));
    args[2] = CStringGetTextDatum(kind);
    nulls[1] = nulls[2] = ' ';
  }
  ExecCatalog(
      "INSERT INTO retention.policy_state AS s (policy_id, cursor, cursor_kind)"
      " SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM retention.policy WHERE id = $1)"
      " ON CONFLICT (policy_id) DO UPDATE SET cursor = $2, cursor_kind = $3",
      3, types, args, nulls, 0);
}

void RescheduleAfterAlter(int32_t policy_id) {
  Oid types[1] = {INT4OID};
  Datum values[1] = {Int32GetDatum(policy_id)};
  ExecCatalog(
      "UPDATE retention.policy_state s SET next_run_at = r.started_at + p.schedule"
      "  FROM retention.run_history r, retention.policy p"
      " WHERE s.policy_id = $1 AND p.id = s.policy_id AND r.id = s.last_run_id"
      "   AND s.consecutive_failures = 0",
      1, types, values, NULL, 0);
}

void RecordTableState(int64_t run_id, Oid relid, bool after) {
  // The size needs a lock on the table: take it only if it is free, so that
  // bookkeeping never waits behind somebody's exclusive lock (the size is
  // then left unknown).
  Datum bytes = (Datum) 0;
  bool have_bytes = ConditionalLockRelationOid(relid, AccessShareLock);
  if (have_bytes) {
    bytes = DirectFunctionCall1(pg_table_size, ObjectIdGetDatum(relid));
    UnlockRelationOid(relid, AccessShareLock);
  }
  Oid types[3] = {INT8OID, OIDOID, INT8OID};
  Datum values[3] = {Int64GetDatum(run_id), ObjectIdGetDatum(relid), bytes};
  char nulls[4] = "   ";
  nulls[2] = have_bytes ? ' ' : 'n';
  char* sql = psprintf(
      "UPDATE retention.run_history SET table_bytes_%1$s = $3,"
      " dead_rows_%1$s = (SELECT n_dead_tup FROM pg_stat_all_tables WHERE relid = $2)"
      " WHERE id = $1",
      after ? "after" : "before");
  ExecCatalog(sql, 3, types, values, nulls, 0);
}

void RecordAnalyzed(int64_t run_id) {
  Oid types[1] = {INT8OID};
  Datum values[1] = {Int64GetDatum(run_id)};
  ExecCatalog("UPDATE retention.run_history SET analyzed = true WHERE id = $1", 1, types, values,
              NULL, 0);
}

void RecordHorizonWarning(int64_t run_id, const char* warning) {
  Oid types[2] = {INT8OID, TEXTOID};
  Datum values[2] = {Int64GetDatum(run_id), CStringGetTextDatum(warning)};
  ExecCatalog("UPDATE retention.run_history SET horizon_warning = $2 WHERE id = $1", 2, types,
              values, NULL, 0);
}

// When a policy is due, for the scheduler and run_due() alike: enabled, not
// paused, and its next run (regular, or a retry after backoff) has come.
#define DUE_POLICIES                                                     \
  "SELECT p.name FROM retention.policy p"                                \
  " LEFT JOIN retention.policy_state s ON s.policy_id = p.id"            \
  " WHERE p.enabled AND NOT p.paused AND (s.next_run_at IS NULL OR s.next_run_at <= now())"

char** ListDuePolicies(int* count) {
  ExecCatalog(DUE_POLICIES " ORDER BY s.next_run_at NULLS FIRST, p.id", 0, NULL, NULL, NULL, 0);
  return NamesFromResult(count);
}

bool PolicyIsDue(const char* name) {
  Oid types[1] = {TEXTOID};
  Datum values[1] = {CStringGetTextDatum(name)};
  ExecCatalog(DUE_POLICIES " AND p.name = $1", 1, types, values, NULL, 1);
  return SPI_processed > 0;
}

int CloseInterruptedRuns() {
  ExecCatalog(
      "UPDATE retention.run_history r SET status = 'interrupted',"
      " finished_at = coalesce(r.finished_at, now())"
      " WHERE r.status = 'running' AND NOT retention_internal.run_is_live(r.policy_id, r.pid)",
      0, NULL, NULL, NULL, 0);
  return static_cast<int>(SPI_processed);
}

}  // namespace pg_retention::pg
