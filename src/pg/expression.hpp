// expression.hpp: parsing and checking the user's expires_at and filter
// expressions. An expression must be one SQL expression over the table's own
// columns: no subquery, aggregate, window or set-returning function, no
// volatile function; expires_at yields timestamptz, timestamp or date, filter
// yields boolean. The stored form is deparsed with every name outside
// pg_catalog schema-qualified, so it means the same under the pinned
// search_path the engine runs with.
#pragma once

#include <cstdint>

namespace pg_retention::pg {

enum class ExprRole { kExpiresAt, kFilter };

struct AnalyzedExpression {
  char* canonical;        // deparsed text, palloc'd
  unsigned int type_oid;  // result type
  void* node;             // the analyzed Node*, for index matching
  int nattnums;
  int16_t* attnums;       // sorted user attribute numbers it reads
};

// Parses and checks text against relid with the current search_path; raises
// a PostgreSQL error for anything the contract above rejects.
AnalyzedExpression AnalyzeExpression(unsigned int relid, const char* text, ExprRole role);

// Sorted union of the attribute numbers of two expressions; *count receives
// the number. palloc'd.
int16_t* MergeAttnums(const AnalyzedExpression* a, const AnalyzedExpression* b, int* count);

}  // namespace pg_retention::pg
