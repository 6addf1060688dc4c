/*
 * pg_compat.h: the few server APIs that changed name after PostgreSQL 15.
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

#endif /* PG_RETENTION_PG_COMPAT_H */
