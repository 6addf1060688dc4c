// archive_partitions.cpp: see archive_partitions.hpp. The ranges are the
// core's (core/partition_plan); this file creates, converts and lists
// tables. DDL runs as the extension's owner (the schema retention_archive is
// its own), and every partition is handed to the archive's owner.
#include "pg/policy/archive_partitions.hpp"

#include <vector>

#include "core/partition_plan.hpp"
#include "core/policy_model.hpp"
#include "pg/module/guard.hpp"
#include "pg/module/gucs.hpp"
#include "pg/module/session.hpp"
#include "pg/module/subtransaction.hpp"
#include "pg/policy/catalog.hpp"

extern "C" {
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"
}

namespace pg_retention::pg {

namespace {

core::PartitionStep StepOf(IntervalDatum interval) {
  const Interval* iv = DatumGetIntervalP(interval);
  core::PartitionStep step;
  CoreError err;
  if (!CallCore(&err, core::PartitionStepFromInterval, static_cast<int32_t>(iv->month),
                static_cast<int32_t>(iv->day), static_cast<int64_t>(iv->time), &step))
    RaiseCoreError(&err);
  return step;
}

void Exec(const char* sql) {
  int rc = SPI_execute(sql, false, 0);
  if (rc < 0) elog(ERROR, "could not run \"%s\": %s", sql, SPI_result_code_string(rc));
}

// An SQL expression for a TimestampTz: to_timestamp of its Unix time.
char* TimestampSql(int64_t ts) {
  int64_t unix_us = ts + (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
  const char* sign = unix_us < 0 ? "-" : "";
  uint64_t a = unix_us < 0 ? -static_cast<uint64_t>(unix_us) : static_cast<uint64_t>(unix_us);
  return psprintf("pg_catalog.to_timestamp(%s%llu.%06llu)", sign,
                  static_cast<unsigned long long>(a / 1000000),
                  static_cast<unsigned long long>(a % 1000000));
}

// relname + suffix within NAMEDATALEN, cutting the name on a character.
char* PartitionName(const char* relname, const char* suffix) {
  int room = NAMEDATALEN - 1 - static_cast<int>(strlen(suffix));
  int len = pg_mbcliplen(relname, strlen(relname), room);
  return psprintf("%.*s%s", len, relname, suffix);
}

// The name for the archive's partition with this suffix, or nullptr when
// that partition exists already. A name another relation took (an archive
// owner can rename its own table to anything in retention_archive) is passed
// over for the next of name_1 ... name_9, so nobody can keep another
// archive from getting its partitions.
char* FreePartitionName(Oid archive, const char* suffix) {
  Oid nsp = get_rel_namespace(archive);
  for (int i = 0; i < 10; ++i) {
    char* name = PartitionName(get_rel_name(archive),
                               i == 0 ? suffix : psprintf("%s_%d", suffix, i));
    Oid relid = get_relname_relid(name, nsp);
    if (!OidIsValid(relid)) return name;
    if (get_rel_relispartition(relid) && get_partition_parent(relid, true) == archive)
      return nullptr;
  }
  ereport(WARNING, (errmsg("no free name for partition %s of archive table \"%s\"", suffix,
                           get_rel_name(archive))));
  return nullptr;
}

// Creates one partition (bounds nullptr: the DEFAULT one) in a
// subtransaction; a failure is a WARNING. Runs inside catalog work.
//
// The extension owner only creates a plain table of the archive's columns
// (LIKE without INCLUDING runs nobody's code) and gives it to the archive's
// owner; the archive's owner attaches it, in the sandbox. Attaching builds
// the archive's indexes on the new partition, which evaluates their
// expressions: that must never happen with the extension owner's rights.
void CreatePartition(Oid archive, const char* bounds, const char* suffix) {
  const char* schema = get_namespace_name(get_rel_namespace(archive));
  char* name = FreePartitionName(archive, suffix);
  if (name == nullptr) return;
  char* parent = quote_qualified_identifier(schema, get_rel_name(archive));
  char* part = quote_qualified_identifier(schema, name);
  const char* owner = quote_identifier(GetUserNameFromId(RelationOwner(archive), false));
  ErrorData* error = InSubtransaction([&]() {
    char timeout[32];
    snprintf(timeout, sizeof(timeout), "%d", guc_lock_timeout_ms);
    SetLocalSetting("lock_timeout", timeout);
    Exec(psprintf("CREATE TABLE %s (LIKE %s)", part, parent));
    Exec(psprintf("ALTER TABLE %s OWNER TO %s", part, owner));
    Sandbox sandbox;
    BeginSandbox(RelationOwner(archive), "UTC", &sandbox);
    Exec(psprintf("ALTER TABLE %s ATTACH PARTITION %s %s", parent, part,
                  bounds ? bounds : "DEFAULT"));
    EndSandbox(&sandbox);
  });
  if (error == nullptr) return;
  ereport(WARNING, (errmsg("could not create partition %s of archive table %s: %s", part, parent,
                           error->message),
                    errhint("It is tried again at the next run of the policy.")));
  FreeErrorData(error);
}

void CreatePartitions(Oid archive, IntervalDatum interval) {
  core::PartitionStep step = StepOf(interval);
  core::PartitionRange wanted[kPartitionsAhead + 1];
  int64_t now = GetCurrentTimestamp();
  CoreError err;
  if (!CallCore(
          &err,
          [](core::PartitionStep st, int64_t t, core::PartitionRange* out) {
            std::vector<core::PartitionRange> r = core::RangesAhead(st, t, kPartitionsAhead);
            for (size_t i = 0; i < r.size(); ++i) out[i] = r[i];
            return core::Status::Ok();
          },
          step, now, wanted))
    RaiseCoreError(&err);
  CatalogWork work;
  BeginCatalogWork(&work);
  int nest = NewGUCNestLevel();
  CreatePartition(archive, nullptr, "_default");
  for (const core::PartitionRange& r : wanted) {
    char* suffix_malloc = nullptr;
    if (!CallCore(
            &err,
            [](core::PartitionStep st, int64_t lower, char** out) {
              *out = CoreStrdup(core::PartitionSuffix(st, lower));
              return core::Status::Ok();
            },
            step, r.lower, &suffix_malloc))
      RaiseCoreError(&err);
    char* suffix = TakeCoreString(suffix_malloc);
    CreatePartition(
        archive,
        psprintf("FOR VALUES FROM (%s) TO (%s)", TimestampSql(r.lower), TimestampSql(r.upper)),
        suffix);
  }
  RestoreSettings(nest);
  EndCatalogWork(&work);
}

// Replaces the (empty) archive add_policy has just created by a partitioned
// table of the same columns, defaults, indexes, owner and name.
void ConvertToPartitioned(const PolicyRecord* rec, IntervalDatum interval) {
  Oid old_relid = rec->archive_relid;
  Oid nsp = get_rel_namespace(old_relid);
  const char* schema = get_namespace_name(nsp);
  const char* relname = pstrdup(get_rel_name(old_relid));
  char* old_name = quote_qualified_identifier(schema, relname);
  char* tmp = psprintf("pg_retention_new_%u", old_relid);
  char* tmp_name = quote_qualified_identifier(schema, tmp);
  const char* owner = quote_identifier(GetUserNameFromId(RelationOwner(old_relid), false));
  CatalogWork work;
  BeginCatalogWork(&work);
  Exec(
      psprintf("CREATE TABLE %s (LIKE %s INCLUDING DEFAULTS INCLUDING INDEXES)"
               " PARTITION BY RANGE (archived_at)",
               tmp_name, old_name));
  Exec(psprintf("REVOKE ALL ON %s FROM PUBLIC", tmp_name));
  Exec(psprintf("ALTER TABLE %s OWNER TO %s", tmp_name, owner));
  Oid new_relid = get_relname_relid(tmp, nsp);
  // The policy points at the new table before the old one goes, so that the
  // drop event trigger finds no policy of it.
  Oid types[3] = {INT4OID, OIDOID, INTERVALOID};
  Datum values[3] = {Int32GetDatum(rec->id), ObjectIdGetDatum(new_relid), interval};
  ExecCatalog(
      "UPDATE retention.policy SET archive_table = $2, archive_partition = $3"
      " WHERE id = $1",
      3, types, values, NULL, 0);
  Exec(psprintf("DROP TABLE %s", old_name));
  Exec(psprintf("ALTER TABLE %s RENAME TO %s", tmp_name, quote_identifier(relname)));
  EndCatalogWork(&work);
  CreatePartitions(new_relid, interval);
  ereport(NOTICE, (errmsg("archive table %s is partitioned by range of archived_at", old_name)));
}

}  // namespace

void ApplyArchivePartition(const char* policy_name, bool given, uintptr_t interval,
                           bool archive_given) {
  if (!given) return;
  PolicyRecord* rec = LoadPolicy(policy_name, false);
  if (rec->mode != core::Mode::kArchive)
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                    errmsg("archive_partition needs mode => 'archive'")));
  if (archive_given)
    ereport(ERROR,
            (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
             errmsg("archive_partition applies only to the archive table add_policy creates"),
             errhint("Leave archive_table out, or partition your own archive table by range of "
                     "archived_at.")));
  (void) StepOf(interval);  // refuses an interval that is not a step
  ConvertToPartitioned(rec, interval);
}

void EnsureArchivePartitions(int32_t policy_id) {
  Oid policy_rel = get_relname_relid("policy", get_namespace_oid("retention", false));
  if (get_attnum(policy_rel, "archive_partition") == InvalidAttrNumber) return;
  Oid types[1] = {INT4OID};
  Datum values[1] = {Int32GetDatum(policy_id)};
  ExecCatalog(
      "SELECT archive_table::oid, archive_partition, relation::oid FROM retention.policy"
      " WHERE id = $1 AND archive_partition IS NOT NULL AND mode = 'archive'",
      1, types, values, NULL, 1);
  if (SPI_processed != 1) return;
  bool isnull;
  Oid archive =
      DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
  Datum interval =
      datumCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull), false,
                sizeof(Interval));
  Oid source =
      DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
  if (get_rel_relkind(archive) != RELKIND_PARTITIONED_TABLE) return;
  // Only the archive add_policy made: in retention_archive and owned by the
  // table's owner (alter_policy may have pointed the policy elsewhere since,
  // or the archive's owner moved it).
  if (get_rel_namespace(archive) != get_namespace_oid("retention_archive", true) ||
      RelationOwner(archive) != RelationOwner(source))
    return;
  CreatePartitions(archive, interval);
}

ArchivePartition* ListArchivePartitions(Oid archive_relid, int* count) {
  Oid types[2] = {OIDOID, INT2OID};
  Datum values[2] = {ObjectIdGetDatum(archive_relid),
                     Int16GetDatum(get_attnum(archive_relid, "archived_at"))};
  ExecCatalog(
      "SELECT count(*) FROM pg_catalog.pg_partitioned_table"
      " WHERE partrelid = $1 AND partstrat = 'r' AND partnatts = 1"
      "   AND partattrs[0] = $2",
      2, types, values, NULL, 0);
  bool isnull;
  if (DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) != 1)
    ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                    errmsg("archive table \"%s\" is not partitioned by range of archived_at",
                           get_rel_name(archive_relid))));
  ExecCatalog(
      "SELECT c.oid, pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname),"
      "       c.relkind = 'p', b.expr = 'DEFAULT', (b.m)[1]::timestamptz, (b.m)[2]::timestamptz"
      "  FROM pg_catalog.pg_inherits i"
      "  JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid"
      "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
      "  CROSS JOIN LATERAL (SELECT pg_catalog.pg_get_expr(c.relpartbound, c.oid) AS expr) e"
      "  CROSS JOIN LATERAL (SELECT e.expr, pg_catalog.regexp_match(e.expr,"
      "         '^FOR VALUES FROM \\(''([^'']*)''\\) TO \\(''([^'']*)''\\)$') AS m) b"
      " WHERE i.inhparent = $1"
      " ORDER BY b.expr = 'DEFAULT', 5 NULLS FIRST",
      1, types, values, NULL, 0);
  int n = static_cast<int>(SPI_processed);
  ArchivePartition* parts =
      static_cast<ArchivePartition*>(palloc0(sizeof(ArchivePartition) * (n + 1)));
  for (int i = 0; i < n; ++i) {
    HeapTuple tup = SPI_tuptable->vals[i];
    TupleDesc desc = SPI_tuptable->tupdesc;
    parts[i].relid = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
    parts[i].name = TextDatumGetCString(SPI_getbinval(tup, desc, 2, &isnull));
    if (DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull)))
      ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                      errmsg("partition %s of archive table \"%s\" is partitioned itself",
                             parts[i].name, get_rel_name(archive_relid))));
    parts[i].is_default = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));
    Datum lo = SPI_getbinval(tup, desc, 5, &isnull);
    bool lo_null = isnull;
    Datum hi = SPI_getbinval(tup, desc, 6, &isnull);
    parts[i].has_bounds = !lo_null && !isnull;
    if (parts[i].has_bounds) {
      parts[i].lower = DatumGetTimestampTz(lo);
      parts[i].upper = DatumGetTimestampTz(hi);
    }
  }
  *count = n;
  return parts;
}

}  // namespace pg_retention::pg
