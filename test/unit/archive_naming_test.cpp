// Unit tests for archive table naming (src/core/archive_naming).
#include "core/archive_naming.hpp"

#include <gtest/gtest.h>

#include <set>

using namespace pg_retention::core;

TEST(ArchiveNaming, PrefersTheSourceName) {
  std::set<std::string> taken;
  auto is_taken = [&](const std::string& n) { return taken.count(n) > 0; };
  EXPECT_EQ(ChooseArchiveTableName("public", "oauth_access_tokens", is_taken),
            "oauth_access_tokens");
}

TEST(ArchiveNaming, FallsBackToSchemaPrefixThenNumbers) {
  std::set<std::string> taken = {"tokens", "auth_tokens"};
  auto is_taken = [&](const std::string& n) { return taken.count(n) > 0; };
  EXPECT_EQ(ChooseArchiveTableName("auth", "tokens", is_taken), "auth_tokens_2");
  taken.insert("auth_tokens_2");
  EXPECT_EQ(ChooseArchiveTableName("auth", "tokens", is_taken), "auth_tokens_3");
}

TEST(ArchiveNaming, StaysWithinIdentifierLimit) {
  std::string long_name(63, 'a');
  std::set<std::string> taken = {long_name};
  auto is_taken = [&](const std::string& n) { return taken.count(n) > 0; };
  std::string chosen = ChooseArchiveTableName("schema", long_name, is_taken);
  EXPECT_LE(chosen.size(), kMaxIdentifierBytes);
  EXPECT_NE(chosen, long_name);
  taken.insert(chosen);
  std::string third = ChooseArchiveTableName("schema", long_name, is_taken);
  EXPECT_LE(third.size(), kMaxIdentifierBytes);
  EXPECT_EQ(third.substr(third.size() - 2), "_2");
}

TEST(ArchiveNaming, ClipsUtf8OnCharacterBoundary) {
  std::string s = "ab\xC3\xA9";  // "abé": é is two bytes
  EXPECT_EQ(ClipUtf8(s, 3), "ab");
  EXPECT_EQ(ClipUtf8(s, 4), s);
  EXPECT_EQ(ClipUtf8("abc", 10), "abc");
}
