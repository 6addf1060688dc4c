// archive_retain.cpp: see archive_retain.hpp. The decision itself is the
// core's (core/archive_stage); this file reads and writes the catalog and
// checks the archive table.
#include "pg/policy/archive_retain.hpp"

#include "pg/policy/archive_partitions.hpp"

#include "core/archive_stage.hpp"
#include "pg/module/guard.hpp"
#include "pg/module/session.hpp"
#include "pg/policy/catalog.hpp"

extern "C" {
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
}

namespace pg_retention::pg {

namespace {

// While 0.1's catalog is installed (before ALTER EXTENSION UPDATE) the
// column does not exist; add_policy and alter_policy still work there.
bool CatalogHasArchiveRetain() {
  Oid policy_rel = get_relname_relid("policy", get_namespace_oid("retention", false));
  return get_attnum(policy_rel, "archive_retain") != InvalidAttrNumber;
}

bool StoredArchiveRetain(int32_t policy_id) {
  Oid types[1] = {INT4OID};
  Datum values[1] = {Int32GetDatum(policy_id)};
  ExecCatalog("SELECT archive_retain IS NOT NULL FROM retention.policy WHERE id = $1", 1, types,
              values, NULL, 1);
  if (SPI_processed != 1) return false;
  bool isnull;
  return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

void StoreArchiveRetain(int32_t policy_id, uintptr_t interval) {
  Oid types[2] = {INT4OID, INTERVALOID};
  Datum values[2] = {Int32GetDatum(policy_id), interval};
  char nulls[3] = {' ', interval ? ' ' : 'n', '\0'};
  ExecCatalog("UPDATE retention.policy SET archive_retain = $2 WHERE id = $1", 2, types, values,
              nulls, 0);
}

// The archive stage reads archived_at: the archive must have it, as the
// default archive does.
void CheckArchivedAtColumn(unsigned int archive_relid) {
  AttrNumber attnum = get_attnum(archive_relid, "archived_at");
  if (attnum == InvalidAttrNumber || get_atttype(archive_relid, attnum) != TIMESTAMPTZOID)
    ereport(ERROR,
            (errcode(ERRCODE_UNDEFINED_COLUMN),
             errmsg("archive table \"%s\" has no column \"archived_at\" of type timestamptz",
                    get_rel_name(archive_relid)),
             errdetail("archive_retain removes archived rows by the time they were archived."),
             errhint("Add the column with DEFAULT now(), or let add_policy create the "
                     "archive.")));
}

}  // namespace

void CheckArchiveStageTable(const char* policy_name, unsigned int policy_owner,
                            unsigned int archive_relid) {
  HeapTuple tup = SearchSysCache1(RELOID, ObjectIdGetDatum(archive_relid));
  if (!HeapTupleIsValid(tup))
    ereport(ERROR,
            (errcode(ERRCODE_UNDEFINED_TABLE),
             errmsg("archive table of retention policy \"%s\" no longer exists", policy_name)));
  Form_pg_class form = (Form_pg_class) GETSTRUCT(tup);
  Oid archive_owner = form->relowner;
  char kind = form->relkind;
  char* name = pstrdup(NameStr(form->relname));
  ReleaseSysCache(tup);
  if (!RoleActsAs(policy_owner, archive_owner))
    ereport(
        ERROR,
        (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
         errmsg("archive_retain of retention policy \"%s\" cannot delete from archive table "
                "\"%s\"",
                policy_name, name),
         errdetail("Role \"%s\" owns the archive table; the policy's owner \"%s\" does not "
                   "have its privileges.",
                   GetUserNameFromId(archive_owner, false), GetUserNameFromId(policy_owner, false)),
         errhint("Give the archive table to the owner of the policy's table.")));
  // A partitioned archive: by range of archived_at, one level deep.
  if (kind == RELKIND_PARTITIONED_TABLE) {
    int nparts;
    (void) ListArchivePartitions(archive_relid, &nparts);
  }
  CheckArchivedAtColumn(archive_relid);
}

void ApplyArchiveRetain(const char* policy_name, bool given, uintptr_t interval, bool in_alter) {
  if (!given && !CatalogHasArchiveRetain()) return;
  PolicyRecord* rec = LoadPolicy(policy_name, false);
  core::ArchiveRetainRequest request;
  request.archive_mode = rec->mode == core::Mode::kArchive;
  request.given = given;
  if (given) {
    const Interval* iv = DatumGetIntervalP(interval);
    request.value_us = IntervalMicroseconds(interval);
    request.value_has_parts = iv->month != 0 || iv->day != 0 || iv->time != 0;
  }
  request.in_alter = in_alter;
  request.currently_set = StoredArchiveRetain(rec->id);
  CoreError err;
  core::ArchiveRetainDecision decision;
  if (!CallCore(
          &err,
          [](const core::ArchiveRetainRequest* in, core::ArchiveRetainDecision* out) {
            *out = core::DecideArchiveRetain(*in);
            return out->status;
          },
          &request, &decision))
    RaiseCoreError(&err);
  switch (decision.action) {
    case core::ArchiveRetainAction::kSet:
      CheckArchiveStageTable(rec->name, rec->owner, rec->archive_relid);
      StoreArchiveRetain(rec->id, interval);
      break;
    case core::ArchiveRetainAction::kClear: StoreArchiveRetain(rec->id, 0); break;
    case core::ArchiveRetainAction::kKeep:
      // A new archive table or owner must still allow the stage.
      if (request.currently_set) CheckArchiveStageTable(rec->name, rec->owner, rec->archive_relid);
      break;
  }
}

bool LoadArchiveStage(int32_t policy_id, unsigned int* archive_relid, uintptr_t* retain,
                      int64_t* cutoff) {
  if (!CatalogHasArchiveRetain()) return false;
  Oid types[1] = {INT4OID};
  Datum values[1] = {Int32GetDatum(policy_id)};
  ExecCatalog(
      "SELECT p.archive_table::oid, p.archive_retain,"
      "       ((now() AT TIME ZONE p.timezone) - p.archive_retain) AT TIME ZONE p.timezone"
      "  FROM retention.policy p"
      " WHERE p.id = $1 AND p.mode = 'archive' AND p.archive_retain IS NOT NULL",
      1, types, values, NULL, 1);
  if (SPI_processed != 1) return false;
  HeapTuple tup = SPI_tuptable->vals[0];
  TupleDesc desc = SPI_tuptable->tupdesc;
  bool isnull;
  *archive_relid = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
  Datum iv = SPI_getbinval(tup, desc, 2, &isnull);
  *retain = datumCopy(iv, false, sizeof(Interval));  // into the caller's context
  *cutoff = DatumGetTimestampTz(SPI_getbinval(tup, desc, 3, &isnull));
  return true;
}

}  // namespace pg_retention::pg
