// wall.hpp: the C++/PostgreSQL wall. Every header of src/core includes this
// first. The core is pure C++17: it must never see a PostgreSQL header, so a
// translation unit that included postgres.h before a core header fails here.
#pragma once

#ifdef POSTGRES_H
#error \
    "src/core must not be compiled with PostgreSQL headers: include core headers before postgres.h"
#endif
