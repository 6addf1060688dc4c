// block_walk.cpp: see block_walk.hpp.
#include "core/block_walk.hpp"

#include <algorithm>
#include <cmath>

namespace pg_retention::core {

int64_t BlocksPerBatch(int64_t batch_size, double reltuples, int64_t relpages) {
  if (batch_size < 1) batch_size = 1;
  // Without statistics, assume narrow rows: about 100 per 8 kB page.
  double per_page = 100.0;
  if (reltuples > 0 && relpages > 0) per_page = reltuples / static_cast<double>(relpages);
  per_page = std::max(per_page, 1.0);
  double blocks = std::ceil(static_cast<double>(batch_size) / per_page);
  return std::max<int64_t>(1, static_cast<int64_t>(blocks));
}

}  // namespace pg_retention::core
