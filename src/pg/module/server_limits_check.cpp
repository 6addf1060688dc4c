// server_limits_check.cpp: compile-time checks that the server constants the
// core and the glue copy by hand (core/server_limits.hpp, the glue's array
// bounds) match the PostgreSQL this module is built against, and that
// pg_fwd.hpp's types are the server's. Nothing here runs.
#include <cstdint>
#include <type_traits>

#include "core/server_limits.hpp"
#include "pg/module/pg_fwd.hpp"
#include "pg/policy/catalog.hpp"
#include "pg/run/batch_executor.hpp"

extern "C" {
#include "postgres.h"

#include "pg_config_manual.h"
}

namespace pg_retention::pg {

static_assert(core::kMaxIdentifierBytes == NAMEDATALEN - 1, "identifier limit of the server");
static_assert(core::kMaxKeyColumns == INDEX_MAX_KEYS, "index key limit of the server");
static_assert(kMaxCursorColumns == INDEX_MAX_KEYS, "a walk's cursor holds a whole key");
static_assert(kNameBytes == core::kMaxPolicyNameBytes + 1, "a policy name fits PolicyRecord");
static_assert(std::is_same_v<::Datum, uintptr_t> && sizeof(::Oid) == 4, "pg_fwd.hpp's types");

}  // namespace pg_retention::pg
