/*
 * pg_compat.h: the few server APIs that changed after PostgreSQL 15
 * (checked against 15, 17 and 18; nothing here excludes 16).
 * Include it after postgres.h (inside the extern "C" block). Plain C: it is
 * the only header of src/pg that includes server headers.
 */
#ifndef PG_RETENTION_PG_COMPAT_H
#define PG_RETENTION_PG_COMPAT_H

#include "utils/acl.h"

#if PG_VERSION_NUM >= 160000
#include "catalog/pg_class.h"
/* PostgreSQL 16 folded the per-catalog owner checks into one function. */
#define pg_class_ownercheck(relid, roleid) object_ownercheck(RelationRelationId, (relid), (roleid))
#endif

#if PG_VERSION_NUM >= 160000
#include "catalog/pg_database.h"
#define pg_database_ownercheck(dbid, roleid) \
  object_ownercheck(DatabaseRelationId, (dbid), (roleid))
#endif

/*
 * A tree walker for expression_tree_walker: PostgreSQL 16 typed the
 * callback; before, it was "bool (*)()", which C++ reads as taking no
 * argument (cast through void (*)(void), as -Wcast-function-type allows).
 */
#if PG_VERSION_NUM >= 160000
#define RETENTION_WALKER(fn) (fn)
#else
#define RETENTION_WALKER(fn) ((bool (*)()) (void (*)(void)) (fn))
#endif

/* PostgreSQL 17 added "or a stronger mode" to LockHeldByMe. */
#include "storage/lock.h"
#if PG_VERSION_NUM >= 170000
#define LockHeldByMeCompat(tag, mode) LockHeldByMe((tag), (mode), false)
#else
#define LockHeldByMeCompat(tag, mode) LockHeldByMe((tag), (mode))
#endif

/* PostgreSQL 17 replaced MyProc->pgprocno with the global MyProcNumber. */
#include "storage/proc.h"
#if PG_VERSION_NUM >= 170000
#define MyProcNumberCompat MyProcNumber
#else
#define MyProcNumberCompat (MyProc->pgprocno)
#endif

/*
 * PostgreSQL 18 can return a deferrable primary key; false keeps the earlier
 * behaviour (InvalidOid for a deferrable one).
 */
#include "utils/relcache.h"
#if PG_VERSION_NUM >= 180000
#define RelationGetPrimaryKeyIndexCompat(rel) RelationGetPrimaryKeyIndex((rel), false)
#else
#define RelationGetPrimaryKeyIndexCompat(rel) RelationGetPrimaryKeyIndex(rel)
#endif

/*
 * pgstat_report_stat() asserts that it runs outside a transaction (15 and
 * later), and a CALL is always inside one between batches (SPI_commit starts
 * the next at once). Release builds flush there as before; assert-enabled
 * servers skip the mid-run flush instead of failing the assertion, so their
 * statistics arrive when the backend goes idle.
 */
#include "access/xact.h"
#include "pgstat.h"
static inline void
ReportStatCompat(bool force)
{
#ifdef USE_ASSERT_CHECKING
	if (IsTransactionOrTransactionBlock())
		return;
#endif
	(void) pgstat_report_stat(force);
}

/*
 * PostgreSQL 16 added the process with which a session may share a
 * replication origin (0: none, the origin must be free).
 */
#include "replication/origin.h"
#if PG_VERSION_NUM >= 160000
#define ReplOriginSessionSetupCompat(node) replorigin_session_setup((node), 0)
#else
#define ReplOriginSessionSetupCompat(node) replorigin_session_setup(node)
#endif

#endif /* PG_RETENTION_PG_COMPAT_H */
