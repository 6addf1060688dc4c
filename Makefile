# pg_retention: PGXS build, install and test entry points. Every target works
# against any installed server with PG_CONFIG=/path/to/pg_config (15, 17, 18).
#   make && make install          build and install the module and scripts
#   make installcheck             pg_regress and the isolation specs, each in
#                                 its own temporary instance
#   make prove_installcheck       the TAP tests (test/t), PostgreSQL::Test
#   make pgtap                    the pgTAP tests (test/pgtap) with pg_prove in
#                                 a temporary cluster; needs pgTAP installed
#   make unit                     the pure C++ core's GoogleTest suite (CMake,
#                                 no PostgreSQL needed)
# scripts/test.sh runs every tier on every supported version.

EXTENSION  = pg_retention
EXTVERSION = 0.2
MODULE_big = pg_retention

CORE_SRCS = $(sort $(wildcard src/core/*.cpp))
PG_SRCS   = $(sort $(wildcard src/pg/*/*.cpp))
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

# Not TAP_TESTS: PGXS would then run the TAP tests from installcheck too.
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

EXTRA_CLEAN = tmp_check tmp_check_pgtap build

.PHONY: prove_installcheck pgtap unit

prove_installcheck:
	$(prove_installcheck)

pgtap:
	PATH="$(bindir):$$PATH" PG_CONFIG="$(PG_CONFIG)" $(srcdir)/test/pgtap/run.sh $(PGTAP_TESTS)

UNIT_BUILD ?= build
unit:
	cmake -S $(srcdir) -B $(UNIT_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(UNIT_BUILD) -j2
	cd $(UNIT_BUILD) && ctest --output-on-failure
