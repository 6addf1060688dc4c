-- pg_retention 0.1 -> 0.2. Every change of src/sql/pg_retention.sql since
-- 0.1 (src/sql/pg_retention--0.1.sql) is made here too, so that an updated
-- installation equals a fresh one (test/t/190_upgrade.pl compares them).

\echo Use "ALTER EXTENSION pg_retention UPDATE TO '0.2'" to load this file. \quit
