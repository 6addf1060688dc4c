-- Every bad input fails with a clear error and a proper SQLSTATE, and leaves
-- nothing behind.
CREATE EXTENSION pg_retention;
\set VERBOSITY default
\set SHOW_CONTEXT never

CREATE TABLE tokens (
    id          bigint PRIMARY KEY,
    token       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_in  integer NOT NULL DEFAULT 60,
    revoked_at  timestamptz,
    scopes      text[]
);
INSERT INTO tokens (id, token, revoked_at)
SELECT i, 'tok' || i, now() - interval '1 day' FROM generate_series(1, 10) AS i;

-- Report the SQLSTATE of each failure next to its message.
\set VERBOSITY verbose
CREATE FUNCTION pg_temp.sqlstate_of(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END $$;
\set VERBOSITY default

-- Unknown table, unknown policy.
SELECT retention.add_policy('no_such_table', 'revoked_at');
SELECT retention.alter_policy('nope', retain => '1 day');
SELECT retention.drop_policy('nope');
SELECT retention.pause('nope');
SELECT retention.resume('nope');
SELECT * FROM retention.preview('nope');
CALL retention.run('nope');
SELECT pg_temp.sqlstate_of($$SELECT retention.drop_policy('nope')$$);

-- Missing required arguments.
SELECT retention.add_policy(NULL, 'revoked_at');
SELECT retention.add_policy('tokens', NULL);

-- Settings.
SELECT retention.add_policy('tokens', 'revoked_at', batch_size => 0);
SELECT retention.add_policy('tokens', 'revoked_at', batch_size => -5);
SELECT retention.add_policy('tokens', 'revoked_at', mode => 'purge');
SELECT retention.add_policy('tokens', 'revoked_at', mode => 'ARCHIVE');
SELECT retention.add_policy('tokens', 'revoked_at', retain => '-1 day');
SELECT retention.add_policy('tokens', 'revoked_at', retain => '1 month -1 day');
SELECT retention.add_policy('tokens', 'revoked_at', schedule => '0');
SELECT retention.add_policy('tokens', 'revoked_at', name => '');
SELECT retention.add_policy('tokens', 'revoked_at', name => repeat('x', 258));
SELECT retention.add_policy('tokens', 'revoked_at', archive_table => 'tokens');
SELECT pg_temp.sqlstate_of($$SELECT retention.add_policy('tokens', 'revoked_at', batch_size => 0)$$);
SELECT pg_temp.sqlstate_of($$SELECT retention.add_policy('tokens', 'revoked_at', mode => 'purge')$$);
SELECT pg_temp.sqlstate_of($$SELECT retention.add_policy('tokens', 'revoked_at', retain => '-1 day')$$);

-- Expressions: one expression over the table's own columns.
SELECT retention.add_policy('tokens', 'revoked_at; DROP TABLE tokens');
SELECT retention.add_policy('tokens', 'revoked_at FROM tokens');
SELECT retention.add_policy('tokens', '1=1) OR (true');
SELECT retention.add_policy('tokens', 'revoked_at AS x');
SELECT retention.add_policy('tokens', '(SELECT max(revoked_at) FROM tokens)');
SELECT retention.add_policy('tokens', 'revoked_at', filter => 'id IN (SELECT 1)');
SELECT retention.add_policy('tokens', 'max(revoked_at)');
SELECT retention.add_policy('tokens', 'first_value(revoked_at) OVER ()');
SELECT retention.add_policy('tokens', 'generate_series(revoked_at, revoked_at, interval ''1 day'')');
SELECT retention.add_policy('tokens', 'revoked_at', filter => 'random() < 0.5');
SELECT retention.add_policy('tokens', 'clock_timestamp()');
SELECT retention.add_policy('tokens', 'expires_in');
SELECT retention.add_policy('tokens', 'token');
SELECT retention.add_policy('tokens', 'revoked_at', filter => 'expires_in');
SELECT retention.add_policy('tokens', 'no_such_column');
SELECT retention.add_policy('tokens', 'revoked_at', filter => 'other.id = 1');
SELECT retention.add_policy('tokens', 'revoked_at', filter => 'xmin <> 0');
SELECT retention.add_policy('tokens', 'revoked_at', filter => 'tokens IS NOT NULL');
SELECT retention.add_policy('tokens', 'revoked_at', filter => '$1');
SELECT retention.add_policy('tokens', '');
SELECT pg_temp.sqlstate_of($$SELECT retention.add_policy('tokens', 'revoked_at; DROP TABLE tokens')$$);
SELECT pg_temp.sqlstate_of($$SELECT retention.add_policy('tokens', '(SELECT now())')$$);
SELECT pg_temp.sqlstate_of($$SELECT retention.add_policy('tokens', 'max(revoked_at)')$$);
SELECT pg_temp.sqlstate_of($$SELECT retention.add_policy('tokens', 'clock_timestamp()')$$);
SELECT pg_temp.sqlstate_of($$SELECT retention.add_policy('tokens', 'expires_in')$$);
SELECT pg_temp.sqlstate_of($$SELECT retention.add_policy('tokens', 'no_such_column')$$);

-- Not a plain table.
CREATE VIEW tokens_view AS SELECT * FROM tokens;
SELECT retention.add_policy('tokens_view', 'revoked_at');
CREATE TABLE parted (id int, revoked_at timestamptz) PARTITION BY RANGE (id);
SELECT retention.add_policy('parted', 'revoked_at');
CREATE TEMP TABLE temp_tokens (id int PRIMARY KEY, revoked_at timestamptz);
SELECT retention.add_policy('temp_tokens', 'revoked_at');
SELECT retention.add_policy('pg_catalog.pg_class', 'now()');

-- Archive tables that cannot take the source's rows.
CREATE TABLE archive_missing (id bigint, token text, created_at timestamptz, expires_in integer);
SELECT retention.add_policy('tokens', 'revoked_at', mode => 'archive', archive_table => 'archive_missing');
CREATE TABLE archive_mistyped (id bigint, token text, created_at timestamptz, expires_in integer,
                               revoked_at timestamptz, scopes point);
SELECT retention.add_policy('tokens', 'revoked_at', mode => 'archive', archive_table => 'archive_mistyped');
CREATE TABLE archive_generated (id bigint, token text, created_at timestamptz, expires_in integer,
                                revoked_at timestamptz, scopes text[] GENERATED ALWAYS AS ('{}') STORED);
SELECT retention.add_policy('tokens', 'revoked_at', mode => 'archive', archive_table => 'archive_generated');
CREATE TABLE archive_required (id bigint, token text, created_at timestamptz, expires_in integer,
                               revoked_at timestamptz, scopes text[], reason text NOT NULL);
SELECT retention.add_policy('tokens', 'revoked_at', mode => 'archive', archive_table => 'archive_required');
SELECT retention.add_policy('tokens', 'revoked_at', mode => 'archive', archive_table => 'tokens');
SELECT retention.add_policy('tokens', 'revoked_at', mode => 'archive', archive_table => 'tokens_view');
SELECT retention.add_policy('tokens', 'revoked_at', archive_table => 'archive_missing');
-- Archived values must come back unchanged: no rounding, truncation or zone.
CREATE TABLE archive_lossy (id integer, token varchar(3), created_at timestamp, expires_in integer,
                            revoked_at timestamptz, scopes text[]);
SELECT retention.add_policy('tokens', 'revoked_at', mode => 'archive', archive_table => 'archive_lossy');
ALTER TABLE archive_lossy ALTER COLUMN id TYPE bigint, ALTER COLUMN token TYPE text;
SELECT retention.add_policy('tokens', 'revoked_at', mode => 'archive', archive_table => 'archive_lossy');
ALTER TABLE archive_lossy ALTER COLUMN created_at TYPE timestamptz;
-- An unlogged archive would lose archived rows in a crash.
CREATE UNLOGGED TABLE archive_unlogged (LIKE tokens);
SELECT retention.add_policy('tokens', 'revoked_at', mode => 'archive', archive_table => 'archive_unlogged');
-- A source column named archived_at needs an archive table of its own.
CREATE TABLE has_archived_at (id int PRIMARY KEY, revoked_at timestamptz, archived_at timestamptz);
SELECT retention.add_policy('has_archived_at', 'revoked_at', mode => 'archive');

-- Nothing was created by any of the failures above.
SELECT count(*) AS policies FROM retention.policies;
SELECT count(*) AS archive_schemas FROM pg_namespace WHERE nspname = 'retention_archive';
SELECT count(*) AS runs FROM retention.runs;
SELECT count(*) AS tokens FROM tokens;

-- Reserved names: a name with a period or a double quote is the default name
-- of the table it spells, and only a policy of that table may take it.
SELECT retention.add_policy('tokens', 'revoked_at', name => 'public.other');
SELECT retention.add_policy('tokens', 'revoked_at', name => 'other.tokens');
SELECT retention.add_policy('tokens', 'revoked_at', name => 'tokens"');
SELECT pg_temp.sqlstate_of($$SELECT retention.add_policy('tokens', 'revoked_at', name => 'public.other')$$);
SELECT count(*) AS policies FROM retention.policies;
-- The table's own default name, given explicitly, is accepted as the default is.
SELECT retention.add_policy('tokens', 'revoked_at', name => 'public.tokens');
SELECT name, relation FROM retention.policies;
SELECT retention.drop_policy('public.tokens');

-- Duplicate names.
SELECT retention.add_policy('tokens', 'revoked_at');
SELECT retention.add_policy('tokens', 'created_at');
SELECT retention.add_policy('tokens', 'created_at', name => 'public.tokens');
SELECT pg_temp.sqlstate_of($$SELECT retention.add_policy('tokens', 'created_at')$$);

-- alter_policy validates like add_policy and changes nothing on failure.
SELECT retention.alter_policy('public.tokens', batch_size => -1);
SELECT retention.alter_policy('public.tokens', mode => 'purge');
SELECT retention.alter_policy('public.tokens', expires_at => 'random()');
SELECT retention.alter_policy('public.tokens', filter => 'count(*) > 0');
SELECT retention.alter_policy('public.tokens', archive_table => 'archive_missing');
SELECT retention.alter_policy('public.tokens', mode => 'archive', archive_table => 'archive_missing');
SELECT retention.alter_policy('public.tokens', retain => '-1 hour');
SELECT name, expires_at, retain, mode, archive_table, filter, batch_size FROM retention.policies;

-- max_rows must be positive; run() needs CALL outside a transaction block.
CALL retention.run('public.tokens', max_rows => 0);
BEGIN;
CALL retention.run('public.tokens');
ROLLBACK;
SELECT retention.run('public.tokens');
SELECT count(*) AS tokens_still_there FROM tokens;

-- A renamed column is caught at run time instead of changing the meaning.
ALTER TABLE tokens RENAME COLUMN revoked_at TO revoked_on;
CALL retention.run('public.tokens');
SELECT status, sqlstate, error FROM retention.runs ORDER BY run_id DESC LIMIT 1;
SELECT * FROM retention.preview('public.tokens');
-- A new column that takes the old name does not fool it either.
ALTER TABLE tokens ADD COLUMN revoked_at timestamptz DEFAULT now() - interval '1 year';
CALL retention.run('public.tokens');
SELECT count(*) AS tokens_still_there FROM tokens;
SELECT retention.alter_policy('public.tokens', expires_at => 'revoked_on');
CALL retention.run('public.tokens');

-- An expiry must be of the row and stay put: one that reads no column, or
-- the clock, would make every row purgeable at once.
SELECT retention.add_policy('tokens', $$'2020-01-01'::timestamptz$$, name => 'constant');
SELECT retention.add_policy('tokens', 'current_date', name => 'today');
SELECT retention.add_policy('tokens', $$greatest(revoked_at, now() - interval '1 year')$$,
                            name => 'clock');
SELECT retention.add_policy('tokens', 'coalesce(revoked_at, CURRENT_TIMESTAMP)', name => 'clock');
SELECT pg_temp.sqlstate_of($$SELECT retention.add_policy('tokens', 'coalesce(revoked_at, statement_timestamp())', name => 'clock')$$);
SELECT retention.alter_policy('public.tokens', expires_at => 'transaction_timestamp()');
-- now() in a filter is fine: it chooses rows, it does not date them.
SELECT retention.add_policy('tokens', 'revoked_at', name => 'filter with now',
                            filter => $$revoked_at > now() - interval '10 years'$$);
SELECT retention.drop_policy('filter with now');

-- A retain under a minute was most likely meant with a unit.
SELECT retention.add_policy('tokens', 'revoked_at', retain => '30', name => 'unitless');
SELECT retention.alter_policy('unitless', retain => '59 seconds');
SELECT retention.alter_policy('unitless', retain => '0');      -- no notice
SELECT retention.alter_policy('unitless', retain => '1 minute'); -- no notice
SELECT retention.drop_policy('unitless');
SELECT count(*) AS policies FROM retention.policies;

-- While the installed SQL objects are of another version than the library
-- (an ALTER EXTENSION ... UPDATE still to do), nothing runs.
UPDATE pg_extension SET extversion = '0.0' WHERE extname = 'pg_retention';
CALL retention.run('public.tokens');
UPDATE pg_extension SET extversion = '0.2' WHERE extname = 'pg_retention';

DROP TABLE tokens CASCADE;
DROP TABLE parted, archive_missing, archive_mistyped, archive_generated, archive_required,
           has_archived_at, archive_lossy, archive_unlogged;
DROP EXTENSION pg_retention;
