// guard.hpp: the only way from src/pg into the core. CallCore runs a
// stateless callable (a captureless lambda or a plain function) on inputs the
// caller has already converted to plain or core values, catches every C++
// exception, and copies the outcome into a plain CoreError. The callable sees
// nothing but its arguments: it cannot capture a Datum, a palloc'd pointer
// that it would dereference behind the caller's back, or any other server
// state, and scripts/lint.py fails CI when a guard body names a PostgreSQL
// identifier. Results come back through an output pointer among the inputs.
// The caller raises a failure with RaiseCoreError (guard.cpp) only after
// CallCore has returned, so no PostgreSQL error ever unwinds through a C++
// frame and no C++ exception reaches PostgreSQL.
#pragma once

#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <type_traits>
#include <utility>

#include "core/status.hpp"

namespace pg_retention::pg {

struct CoreError {
  core::ErrorKind kind;
  char message[1024];
  char detail[1024];
  char hint[512];
};

// Cuts at a byte count, so it may split a multibyte character (the core does
// not know the server encoding); RaiseCoreError clips each field back to
// whole characters before PostgreSQL sees it.
inline void CopyText(char* dst, std::size_t size, const std::string& src) {
  std::size_t n = src.size() < size - 1 ? src.size() : size - 1;
  std::memcpy(dst, src.data(), n);
  dst[n] = '\0';
}

// Runs fn(in...) and returns true when it returned an ok Status.
template <typename Fn, typename... In>
bool CallCore(CoreError* err, Fn fn, In&&... in) noexcept {
  static_assert(std::is_empty_v<Fn> || std::is_pointer_v<Fn>,
                "a guard body must not capture: pass its inputs, converted, as arguments");
  static_assert(std::is_same_v<std::invoke_result_t<Fn, In...>, core::Status>,
                "a guard body returns a core::Status");
  std::memset(err, 0, sizeof(*err));
  try {
    core::Status status = fn(std::forward<In>(in)...);
    if (status.ok()) return true;
    err->kind = status.kind();
    CopyText(err->message, sizeof(err->message), status.message());
    CopyText(err->detail, sizeof(err->detail), status.detail());
    CopyText(err->hint, sizeof(err->hint), status.hint());
  } catch (const std::exception& e) {
    err->kind = core::ErrorKind::kInternal;
    CopyText(err->message, sizeof(err->message),
             std::string("pg_retention internal error: ") + e.what());
  } catch (...) {
    err->kind = core::ErrorKind::kInternal;
    CopyText(err->message, sizeof(err->message), "pg_retention internal error");
  }
  return false;
}

// The common case: *out = fn(in...) for a core function that cannot fail
// (a decision that returns a value). The body is a captureless lambda that
// sees only fn, out and the converted inputs.
template <typename R, typename... P, typename... In>
bool CallCoreInto(CoreError* err, R (*fn)(P...), R* out, In&&... in) noexcept {
  return CallCore(
      err,
      [](R (*f)(P...), R* result, std::decay_t<In>... args) {
        *result = f(args...);
        return core::Status::Ok();
      },
      fn, out, std::forward<In>(in)...);
}

// A malloc'd copy of a core string for the caller to pstrdup and free; no
// PostgreSQL call happens inside the guard.
inline char* CoreStrdup(const std::string& s) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (out) std::memcpy(out, s.c_str(), s.size() + 1);
  return out;
}

// ereport(ERROR) with the SQLSTATE for err->kind. Never returns.
[[noreturn]] void RaiseCoreError(const CoreError* err);

// Turns a CoreStrdup result into palloc'd memory (frees the malloc'd copy).
char* TakeCoreString(char* malloced);

}  // namespace pg_retention::pg
