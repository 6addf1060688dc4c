// block_walk.hpp: sizing the physical block ranges that batches walk on a
// table without a primary key, from the batch size in rows and the table's
// density.
#pragma once
#include "core/wall.hpp"

#include <cstdint>

namespace pg_retention::core {

// Blocks per batch so that a range holds about batch_size rows. reltuples and
// relpages come from pg_class and may be stale or unknown (-1 / 0).
int64_t BlocksPerBatch(int64_t batch_size, double reltuples, int64_t relpages);

}  // namespace pg_retention::core
