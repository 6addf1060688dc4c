// restore.hpp: CALL retention.restore(policy, filter, max_rows, dry_run)
// moves archived rows of an archive-mode policy back into its table. Each
// batch is one statement in its own committed transaction (see
// core/restore_statement.hpp); it runs as the table's owner in the sandbox,
// under the policy's one-executor lock, and is recorded in the run history
// with trigger 'restore'. A row whose key is in the table already stays in
// the archive and is counted as kept. The dry run only counts.
#pragma once

#include <cstdint>

namespace pg_retention::pg {

struct RestoreTotals {
  int64_t rows_restored;  // dry run: rows a restore would move now
  int64_t rows_kept;      // rows that stay in the archive (key in the table)
  int32_t batches;
  const char* status;     // ok, partial (max_rows reached), dry run
};

// The caller is connected to SPI, non-atomic unless dry_run. filter may be
// nullptr (every archived row); max_rows <= 0 means no limit.
RestoreTotals RestorePolicy(const char* name, const char* filter, int64_t max_rows,
                            bool dry_run);

}  // namespace pg_retention::pg
