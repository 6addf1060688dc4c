-- Smoke test: pgTAP runs, and pg_retention installs with its schema.
BEGIN;
CREATE EXTENSION IF NOT EXISTS pg_retention;
SELECT plan(2);
SELECT has_schema('retention');
SELECT has_extension('pg_retention');
SELECT * FROM finish();
ROLLBACK;
