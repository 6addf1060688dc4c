// expression.hpp: parsing and checking the user's expires_at and filter
// expressions. An expression must be one SQL expression over the table's own
// columns: no subquery, aggregate, window or set-returning function, no
// volatile function; expires_at yields timestamptz, timestamp or date, filter
// yields boolean. The stored form is deparsed with every name outside
// pg_catalog schema-qualified, so it means the same under the pinned
// search_path the engine runs with.
#pragma once

#include <cstdint>

#include "pg/module/pg_fwd.hpp"

namespace pg_retention::pg {

enum class ExprRole { kExpiresAt, kFilter };

struct AnalyzedExpression {
  char* canonical;  // deparsed text, palloc'd
  Oid type_oid;     // result type
  void* node;       // the analyzed Node*, for index matching
  int nattnums;
  int16_t* attnums;  // sorted user attribute numbers it reads
};

// Parses and checks text against relid with the current settings; raises a
// PostgreSQL error for anything the contract above rejects. canonical is
// left nullptr. Runs no user function.
AnalyzedExpression AnalyzeExpression(Oid relid, const char* text, ExprRole role);

// Who an expression is for: names may only resolve through schemas in which
// nobody but these roles (and superusers) can create objects.
struct ExpressionOwners {
  Oid table_owner;
  Oid policy_owner;
  const char* timezone;  // the policy's TimeZone
};

// A new expression from add_policy / alter_policy (see SECURITY.md): parsed
// with the caller's settings and search_path, refused when an unsafe schema
// of that path takes part in its meaning, deparsed under the pinned settings
// into canonical, and read back in the sandbox to check it means the same.
AnalyzedExpression AnalyzeUserExpression(Oid relid, const char* text, ExprRole role,
                                         const ExpressionOwners* owners);

// Refuses (42501) an expression that calls a function or operator, or
// coerces to a domain, owned by a role that cannot already act as
// table_owner (superusers and pg_catalog's objects are trusted): its code
// would run with the table owner's rights. Also refuses objects of a
// temporary schema. Checked at add, alter and every run, so a change of the
// table's owner is caught too.
void CheckExpressionObjects(const AnalyzedExpression* expr, Oid table_owner, const char* role_name);

// A stored (canonical) expression, parsed in the sandbox as the table's
// owner under the pinned settings, as every run reads it.
AnalyzedExpression AnalyzeStoredExpression(Oid relid, const char* text, ExprRole role,
                                           const ExpressionOwners* owners);

// Sorted union of the attribute numbers of two expressions; *count receives
// the number. palloc'd.
// Whether node calls a function (operators' and casts' included) for which
// function(oid, context) is true, or coerces to a domain for which
// domain(type oid, context) is; stops at the first. node is a Node*.
bool FindFunctionOrDomain(void* node, bool (*function)(Oid, void*), bool (*domain)(Oid, void*),
                          void* context);

int16_t* MergeAttnums(const AnalyzedExpression* a, const AnalyzedExpression* b, int* count);

}  // namespace pg_retention::pg
