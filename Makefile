# pg_retention: PGXS build, install and test entry points.
#   make && make install          build and install the module and scripts
#   make installcheck             pg_regress, isolation specs and TAP tests,
#                                 each in its own temporary instance
# The pure C++ core and its unit tests are built separately with CMake
# (see CMakeLists.txt); scripts/test.sh runs every tier.

EXTENSION  = pg_retention
EXTVERSION = 0.2
MODULE_big = pg_retention

CORE_SRCS = $(sort $(wildcard src/core/*.cpp))
PG_SRCS   = $(sort $(wildcard src/pg/*.cpp))
OBJS      = $(CORE_SRCS:.cpp=.o) $(PG_SRCS:.cpp=.o)

# One source of truth for the current install script; the versioned file is
# built. Install scripts of released versions are kept frozen beside it
# (src/sql/pg_retention--<old>.sql) so that old versions can still be
# installed and updated; every change since a release goes into
# src/sql/upgrade/pg_retention--<old>--<new>.sql as well.
DATA_built = $(EXTENSION)--$(EXTVERSION).sql
DATA       = $(sort $(wildcard src/sql/$(EXTENSION)--*.sql)) \
             $(sort $(wildcard src/sql/upgrade/$(EXTENSION)--*--*.sql))

TEST_CONF  = $(srcdir)/test/conf/pg_retention.conf

REGRESS      = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --temp-instance=./tmp_check_regress --temp-config=$(TEST_CONF) \
               --dbname=contrib_regression

ISOLATION      = $(patsubst test/isolation/specs/%.spec,%,$(sort $(wildcard test/isolation/specs/*.spec)))
ISOLATION_OPTS = --temp-instance=./tmp_check_iso --temp-config=$(TEST_CONF) \
                 --inputdir=test/isolation --outputdir=test/isolation

TAP_TESTS   = 1
PROVE_TESTS = $(sort $(wildcard test/t/*.pl))

# C++17 for every object; PostgreSQL 15's s_lock.h still says "register".
PG_CPPFLAGS = -I$(srcdir)/src
PG_CXXFLAGS = -std=c++17 -Wall -Wextra -Wno-register -Wno-unused-parameter \
              -Wno-missing-field-initializers -fno-strict-aliasing $(EXTRA_CXXFLAGS)
SHLIB_LINK  = -lstdc++

# Debian's PGXS would build JIT bitcode with clang and without our C++ flags.
override with_llvm = no
# Rebuild objects when a header they include changes (PGXS leaves this off).
# Object basenames are unique across src/, as the .deps files need.
override autodepend = yes

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# After the include: Makefile.global resets PROVE_FLAGS.
PROVE_FLAGS = -I $(srcdir)/test/perl

$(EXTENSION)--$(EXTVERSION).sql: src/sql/$(EXTENSION).sql
	cp $< $@
