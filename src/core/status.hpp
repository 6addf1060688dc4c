// status.hpp: how the core reports an expected failure. Bad input is not
// exceptional, so validation returns a Status; the PostgreSQL layer maps the
// ErrorKind to a SQLSTATE and raises it with ereport.
#pragma once
#include "core/wall.hpp"

#include <string>
#include <utility>

namespace pg_retention::core {

// Categories of user-facing failure; src/pg/errors maps each to a SQLSTATE.
enum class ErrorKind {
  kNone = 0,
  kInvalidParameterValue,  // 22023
  kInvalidName,            // 42602
  kInternal,               // XX000
};

class Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status Error(ErrorKind kind, std::string message, std::string detail = {},
                      std::string hint = {}) {
    Status s;
    s.kind_ = kind;
    s.message_ = std::move(message);
    s.detail_ = std::move(detail);
    s.hint_ = std::move(hint);
    return s;
  }

  bool ok() const { return kind_ == ErrorKind::kNone; }
  ErrorKind kind() const { return kind_; }
  const std::string& message() const { return message_; }
  const std::string& detail() const { return detail_; }
  const std::string& hint() const { return hint_; }

 private:
  ErrorKind kind_ = ErrorKind::kNone;
  std::string message_;
  std::string detail_;
  std::string hint_;
};

}  // namespace pg_retention::core
