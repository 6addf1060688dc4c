// Unit tests for the guard's C++ side (src/pg/module/guard.hpp): CallCore
// hands the inputs to a stateless body, returns its Status as a plain
// CoreError, and turns any exception into an internal error. Raising the
// error (guard.cpp) needs the server and is covered by the regression tests.
#include "pg/module/guard.hpp"

#include "core/policy_model.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace pg_retention::pg {
namespace {

TEST(Guard, PassesInputsAndOutputs) {
  CoreError err;
  int out = 0;
  EXPECT_TRUE(CallCore(
      &err,
      [](int a, int b, int* sum) {
        *sum = a + b;
        return core::Status::Ok();
      },
      2, 3, &out));
  EXPECT_EQ(out, 5);
  EXPECT_EQ(err.kind, core::ErrorKind::kNone);
}

TEST(Guard, CopiesAFailedStatus) {
  CoreError err;
  EXPECT_FALSE(CallCore(
      &err,
      [](const char* m) {
        return core::Status::Error(core::ErrorKind::kInvalidName, m, "the detail", "the hint");
      },
      "the message"));
  EXPECT_EQ(err.kind, core::ErrorKind::kInvalidName);
  EXPECT_STREQ(err.message, "the message");
  EXPECT_STREQ(err.detail, "the detail");
  EXPECT_STREQ(err.hint, "the hint");
}

TEST(Guard, TakesAPlainFunction) {
  CoreError err;
  EXPECT_FALSE(CallCore(&err, core::ValidateMaxRows, int64_t{0}));
  EXPECT_EQ(err.kind, core::ErrorKind::kInvalidParameterValue);
}

TEST(Guard, ExceptionsBecomeInternalErrors) {
  CoreError err;
  EXPECT_FALSE(CallCore(&err, []() -> core::Status { throw std::runtime_error("boom"); }));
  EXPECT_EQ(err.kind, core::ErrorKind::kInternal);
  EXPECT_EQ(std::string(err.message), "pg_retention internal error: boom");
  EXPECT_FALSE(CallCore(&err, []() -> core::Status { throw 42; }));
  EXPECT_STREQ(err.message, "pg_retention internal error");
}

TEST(Guard, LongTextIsCut) {
  CoreError err;
  EXPECT_FALSE(CallCore(
      &err,
      [](std::size_t n) {
        return core::Status::Error(core::ErrorKind::kInternal, std::string(n, 'x'));
      },
      sizeof(err.message) * 2));
  EXPECT_EQ(std::string(err.message).size(), sizeof(err.message) - 1);
}

}  // namespace
}  // namespace pg_retention::pg
