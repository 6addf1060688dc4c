// gucs.hpp: the retention.* settings, defined in module.cpp. Plain C types
// only: this header is included next to core headers.
#pragma once

namespace pg_retention::pg {

extern int guc_lock_timeout_ms;       // retention.lock_timeout
extern int guc_statement_timeout_ms;  // retention.statement_timeout
extern int guc_default_batch_size;    // retention.default_batch_size
extern int guc_max_batch_retries;     // retention.max_batch_retries

}  // namespace pg_retention::pg
