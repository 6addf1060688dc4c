// pg_fwd.hpp: PostgreSQL's basic value types for the glue's headers, declared
// without a PostgreSQL header (as pg_duckdb's declarations): a header can say
// Oid and Datum, and still be included before postgres.h. The typedefs are
// the server's own (C++ accepts a repeated typedef of the same type, and any
// difference fails to compile wherever postgres.h is included too).
// Interval is an anonymous struct in PostgreSQL and cannot be declared ahead:
// an interval travels as its Datum (IntervalDatum says which).
#pragma once

#include <cstdint>

typedef unsigned int Oid;
typedef uintptr_t Datum;

namespace pg_retention::pg {

// A Datum holding an Interval* (DatumGetIntervalP).
using IntervalDatum = Datum;

}  // namespace pg_retention::pg
