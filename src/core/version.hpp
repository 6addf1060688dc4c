// version.hpp: the extension version this library implements. It must equal
// default_version in pg_retention.control; runs refuse to start while the
// installed SQL objects are of another version (an ALTER EXTENSION ... UPDATE
// not yet done, or in progress).
#pragma once
#include "core/wall.hpp"

namespace pg_retention::core {

constexpr const char* kExtensionVersion = "0.2";

}  // namespace pg_retention::core
