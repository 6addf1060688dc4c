// replication_origin.hpp: batches that replicas and CDC consumers can tell
// apart. A policy with replicate_deletes = false runs each batch transaction
// with the replication origin "pg_retention" set up in the session, so its
// WAL (the deletes, the archive inserts, the commit) carries that origin:
// a logical subscription created with origin = none (PostgreSQL 16 and
// later) skips it, and CDC tools that read origins can filter it.
//
// The origin is cluster-wide and one origin can be active in one session at
// a time, so such batches take a cluster-wide transaction-level lock
// (advisory class 1919251566, objsubid 5, database 0) first: batches of
// different policies, or databases, that carry the origin take turns. The
// name starts with "pg_", which SQL reserves, so no role can create it first.
#pragma once

namespace pg_retention::pg {

constexpr const char* kRetentionOriginName = "pg_retention";

// Raises 0A000 on servers where subscribers cannot filter by origin (< 16).
void RequireOriginFiltering();

// Creates the origin if it does not exist (in the current transaction).
void EnsureRetentionOrigin();

// In the batch's transaction, before its statements: waits for the
// cluster-wide origin lock, then sets the origin up for this session.
// Refuses when the session has a replication origin of its own.
void BeginOriginBatch();

// Resets the session's origin if BeginOriginBatch set it up; does nothing
// otherwise, so it is safe on every path (after the commit, after an error).
void EndOriginBatch();

}  // namespace pg_retention::pg
