// server_limits.hpp: PostgreSQL's compile-time limits that the core needs,
// copied by hand because the core never sees a server header. The glue
// (src/pg/module/server_limits_check.cpp) static_asserts that each copy
// matches the server it is built against.
#pragma once
#include "core/wall.hpp"

#include <cstddef>

namespace pg_retention::core {

// Longest SQL identifier in bytes: NAMEDATALEN - 1.
constexpr std::size_t kMaxIdentifierBytes = 63;

// Most columns in an index, so in a primary key walk's key: INDEX_MAX_KEYS.
constexpr int kMaxKeyColumns = 32;

}  // namespace pg_retention::core
