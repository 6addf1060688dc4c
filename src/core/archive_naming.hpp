// archive_naming.hpp: chooses the name of the archive table that add_policy
// creates in schema retention_archive when the user does not name one.
// Readable first (the source table's name), then schema-prefixed, then
// numbered; always within the 63-byte identifier limit.
#pragma once
#include "core/wall.hpp"

#include <functional>
#include <string>

#include "core/server_limits.hpp"

namespace pg_retention::core {

// `taken` answers whether a name already exists in the archive schema.
// Returns an unquoted name; the server quotes it.
std::string ChooseArchiveTableName(const std::string& source_schema,
                                   const std::string& source_table,
                                   const std::function<bool(const std::string&)>& taken);

// Cuts a UTF-8 string to at most max_bytes without splitting a character.
std::string ClipUtf8(const std::string& text, std::size_t max_bytes);

}  // namespace pg_retention::core
