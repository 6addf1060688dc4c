// archive_table.hpp: the archive side of archive mode. Either add_policy
// creates retention_archive.<table> for the table's owner, or the user names
// an existing table that must be able to take every source column by name.
#pragma once

#include "pg/policy/relation_info.hpp"

namespace pg_retention::pg {

// Creates the default archive table and returns its Oid. Runs as the
// extension owner, then hands the table to owner. The table is not a member
// of the extension, so DROP EXTENSION never drops archived rows.
Oid CreateDefaultArchiveTable(const SourceInfo* source, Oid owner);

// Raises an error unless archive_relid can receive every source column by
// name, is owned by owner (or by a superuser, or a role that has owner's
// privileges: its triggers run as owner) and owner may insert into it.
void CheckArchiveTable(Oid archive_relid, const SourceInfo* source, Oid owner);

}  // namespace pg_retention::pg
