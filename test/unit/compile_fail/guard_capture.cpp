// Compiled (never linked) by ctest: CallCore (src/pg/module/guard.hpp) must
// refuse a guard body that captures, so that no server state can reach the
// core through a lambda. With -DCAPTURE this file must fail to compile with
// guard.hpp's message; without it, the same call with its inputs passed as
// arguments must compile.
#include "pg/module/guard.hpp"

namespace {

pg_retention::core::Status Check(int value) {
  return value > 0 ? pg_retention::core::Status::Ok()
                   : pg_retention::core::Status::Error(
                         pg_retention::core::ErrorKind::kInvalidParameterValue, "bad");
}

}  // namespace

bool Probe(int value) {
  pg_retention::pg::CoreError err;
#ifdef CAPTURE
  return pg_retention::pg::CallCore(&err, [&]() { return Check(value); });
#else
  return pg_retention::pg::CallCore(
      &err, [](int v) { return Check(v); }, value);
#endif
}
