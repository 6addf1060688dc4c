// archive_naming.cpp: see archive_naming.hpp.
#include "core/archive_naming.hpp"

namespace pg_retention::core {

std::string ClipUtf8(const std::string& text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  std::size_t cut = max_bytes;
  // Step back over continuation bytes (10xxxxxx) to a character boundary.
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return text.substr(0, cut);
}

std::string ChooseArchiveTableName(const std::string& source_schema,
                                   const std::string& source_table,
                                   const std::function<bool(const std::string&)>& taken) {
  std::string plain = ClipUtf8(source_table, kMaxIdentifierBytes);
  if (!taken(plain)) return plain;

  std::string prefixed = ClipUtf8(source_schema + "_" + source_table, kMaxIdentifierBytes);
  if (!taken(prefixed)) return prefixed;

  for (int n = 2;; ++n) {
    std::string suffix = "_" + std::to_string(n);
    std::string candidate =
        ClipUtf8(source_schema + "_" + source_table, kMaxIdentifierBytes - suffix.size()) + suffix;
    if (!taken(candidate)) return candidate;
  }
}

}  // namespace pg_retention::core
