// database_hold.hpp: database-wide commands and the scheduler. DROP
// DATABASE, CREATE DATABASE ... TEMPLATE, ALTER DATABASE ... RENAME TO and
// ALTER DATABASE ... SET TABLESPACE fail while any other session is
// connected to the database, and a scheduler always is. Before PostgreSQL
// runs such a command, the utility hook (role_hooks.cpp) calls
// HoldDatabaseFor: it asks that database's scheduler to leave and waits for
// it; the launcher starts no scheduler there until the command's
// transaction ends. See src/pg/README.md, "Database-wide commands".
#pragma once

struct Node;

namespace pg_retention::pg {

// Does nothing unless stmt is one of those commands, on another database
// than the current one, issued by a role that may run it (its owner or a
// superuser; anybody else gets PostgreSQL's error and stops nothing).
void HoldDatabaseFor(Node* stmt);

}  // namespace pg_retention::pg
