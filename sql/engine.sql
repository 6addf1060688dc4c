-- How batches find and move rows: access paths, by-name archive mapping, the
-- archive row-count guard, and policies whose tables change underneath.
CREATE EXTENSION pg_retention;
\set SHOW_CONTEXT never

CREATE TABLE tokens (
    id          bigint PRIMARY KEY,
    token       text NOT NULL,
    created_at  timestamp NOT NULL,
    expires_in  integer NOT NULL,
    revoked_at  timestamptz
);
INSERT INTO tokens
SELECT i, 'tok' || i, now()::timestamp - (i % 50) * interval '1 day', 86400,
       CASE WHEN i % 4 = 0 THEN now() - (i % 30) * interval '1 day' END
FROM generate_series(1, 1000) AS i;
CREATE TABLE tokens_before AS SELECT * FROM tokens;

-- Without a matching index: primary key walk.
SELECT retention.add_policy('tokens', 'revoked_at', retain => '10 days', batch_size => 64);
SELECT access_path, purgeable_rows FROM retention.preview('public.tokens');
-- An index on the expiry column is used.
CREATE INDEX tokens_revoked_at_idx ON tokens (revoked_at);
SELECT access_path, purgeable_rows FROM retention.preview('public.tokens');
CALL retention.run('public.tokens');
SELECT count(*) FILTER (WHERE revoked_at < now() - interval '10 days') AS purgeable_left,
       count(*) AS total_left FROM tokens;

-- An expression index matches an expression policy (timestamp, not timestamptz).
SELECT retention.add_policy('tokens', 'created_at + make_interval(secs => expires_in)',
                            retain => '30 days', name => 'expired tokens', batch_size => 50);
SELECT access_path FROM retention.preview('expired tokens');
CREATE INDEX tokens_expiry_idx ON tokens ((created_at + make_interval(secs => expires_in)));
SELECT access_path, purgeable_rows FROM retention.preview('expired tokens');
CALL retention.run('expired tokens');
SELECT count(*) AS expired_left FROM tokens
WHERE created_at + make_interval(secs => expires_in) < now()::timestamp - interval '30 days';
-- Only purgeable rows went, and all of them.
SELECT count(*) AS wrongly_deleted FROM tokens_before b
WHERE NOT EXISTS (SELECT 1 FROM tokens t WHERE t.id = b.id)
  AND NOT (b.revoked_at < now() - interval '10 days'
           OR b.created_at + make_interval(secs => b.expires_in) < now()::timestamp - interval '30 days');
-- A partial index does not count.
DROP INDEX tokens_revoked_at_idx;
CREATE INDEX tokens_revoked_partial_idx ON tokens (revoked_at) WHERE revoked_at IS NOT NULL;
SELECT access_path FROM retention.preview('public.tokens');

-- Archive mapping is by column name, whatever the order, with extra columns
-- left to their defaults.
CREATE TABLE grants (id int PRIMARY KEY, a text, b text, expires date);
INSERT INTO grants SELECT i, 'a' || i, 'b' || i, DATE '2020-01-01' + i FROM generate_series(1, 30) AS i;
CREATE TABLE grants_archive (b text, note text DEFAULT 'archived', expires date, id int UNIQUE, a text);
SELECT retention.add_policy('grants', 'expires', mode => 'archive', archive_table => 'grants_archive',
                            filter => 'id <= 20', batch_size => 6);
CALL retention.run('public.grants');
SELECT id, a, b, expires, note FROM grants_archive WHERE id IN (1, 20) ORDER BY id;
SELECT count(*) AS swapped FROM grants_archive WHERE a NOT LIKE 'a%' OR b NOT LIKE 'b%';
SELECT (SELECT count(*) FROM grants) AS source, (SELECT count(*) FROM grants_archive) AS archive;

-- A trigger that swallows archive rows rolls the whole batch back: nothing is
-- deleted unarchived.
SELECT retention.alter_policy('public.grants', filter => '');
CREATE FUNCTION swallow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id % 2 = 0 THEN RETURN NULL; END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER swallow BEFORE INSERT ON grants_archive FOR EACH ROW EXECUTE FUNCTION swallow();
CALL retention.run('public.grants');
SELECT status, sqlstate, rows_deleted FROM retention.runs WHERE policy = 'public.grants' ORDER BY run_id DESC LIMIT 1;
SELECT (SELECT count(*) FROM grants) AS source, (SELECT count(*) FROM grants_archive) AS archive;
DROP TRIGGER swallow ON grants_archive;
-- So does a rule.
CREATE RULE swallow_rule AS ON INSERT TO grants_archive DO INSTEAD NOTHING;
CALL retention.run('public.grants');
SELECT (SELECT count(*) FROM grants) AS source, (SELECT count(*) FROM grants_archive) AS archive;
DROP RULE swallow_rule ON grants_archive;
-- A row already archived (unique key) fails its batch instead of vanishing.
INSERT INTO grants_archive (id, a, b, expires) VALUES (21, 'dup', 'dup', '2020-01-01');
CALL retention.run('public.grants');
SELECT status, sqlstate FROM retention.runs WHERE policy = 'public.grants' ORDER BY run_id DESC LIMIT 1;
SELECT (SELECT count(*) FROM grants) AS source, (SELECT count(*) FROM grants_archive) AS archive;
DELETE FROM grants_archive WHERE a = 'dup';
CALL retention.run('public.grants');
SELECT (SELECT count(*) FROM grants) AS source, (SELECT count(*) FROM grants_archive) AS archive;

-- The archive table changes under the policy: checked at run time.
INSERT INTO grants SELECT i, 'a' || i, 'b' || i, DATE '2020-01-01' FROM generate_series(31, 35) AS i;
ALTER TABLE grants_archive DROP COLUMN b;
CALL retention.run('public.grants');
SELECT count(*) AS grants_kept FROM grants;
-- Dropping the archive table disables the policy.
DROP TABLE grants_archive;
SELECT name, enabled FROM retention.policies WHERE name = 'public.grants';
CALL retention.run('public.grants');
SELECT count(*) AS grants_kept FROM grants;

-- Timestamps without time zone are read in the policy's time zone (the
-- creator's), whatever the caller's TimeZone: a caller far east of UTC must
-- not purge naive-UTC tokens that have hours to live.
SET TimeZone = 'UTC';
CREATE TABLE naive_tokens (id int PRIMARY KEY, expires_at timestamp);
INSERT INTO naive_tokens SELECT i, (now() AT TIME ZONE 'UTC') + i * interval '1 hour'
FROM generate_series(1, 10) AS i;
SELECT retention.add_policy('naive_tokens', 'expires_at');
SELECT name, timezone FROM retention.policies WHERE name = 'public.naive_tokens';
SET TimeZone = 'Pacific/Kiritimati';
SELECT purgeable_rows FROM retention.preview('public.naive_tokens');
CALL retention.run('public.naive_tokens');
SELECT count(*) FROM naive_tokens;
SET TimeZone = 'Etc/GMT+12';
CALL retention.run('public.naive_tokens');
SELECT count(*) FROM naive_tokens;
RESET TimeZone;
DROP TABLE naive_tokens;

-- preview() is not bounded by the batch timeouts and leaves no timer behind,
-- even when it fails.
CREATE TABLE fragile (id int PRIMARY KEY, gone_at timestamptz);
SELECT retention.add_policy('fragile', 'gone_at');
ALTER TABLE fragile RENAME COLUMN gone_at TO went_at;
SET retention.statement_timeout = '100ms';
DO $$
BEGIN
    PERFORM * FROM retention.preview('public.fragile');
EXCEPTION WHEN OTHERS THEN
    NULL;
END $$;
SELECT pg_sleep(0.3);
RESET retention.statement_timeout;
DROP TABLE fragile;

-- max_runtime: a run stops at the end of the batch in which it runs out,
-- records partial, and the next run resumes after the last range instead of
-- starting over. A complete pass resets the position.
CREATE TABLE slow (id int PRIMARY KEY, revoked_at timestamptz);
INSERT INTO slow SELECT i, CASE WHEN i % 2 = 1 THEN now() - interval '1 day' END
FROM generate_series(1, 40) AS i;
SELECT retention.add_policy('slow', 'revoked_at', batch_size => 10, max_runtime => '1 microsecond');
SELECT max_runtime FROM retention.policies WHERE name = 'public.slow';
CALL retention.run('public.slow');
SELECT array_agg(id ORDER BY id) AS expired_left FROM slow WHERE revoked_at IS NOT NULL;
-- Expire id 2, in the range the first run already walked.
UPDATE slow SET revoked_at = now() - interval '1 day' WHERE id = 2;
CALL retention.run('public.slow');
SELECT array_agg(id ORDER BY id) AS expired_left FROM slow WHERE revoked_at IS NOT NULL;
CALL retention.run('public.slow');
CALL retention.run('public.slow');
-- This run finds the end of the walk: a complete pass resets the position ...
CALL retention.run('public.slow');
SELECT array_agg(id ORDER BY id) AS expired_left FROM slow WHERE revoked_at IS NOT NULL;
-- ... so the next run starts over and finds id 2.
CALL retention.run('public.slow');
SELECT array_agg(id ORDER BY id) AS expired_left FROM slow WHERE revoked_at IS NOT NULL;
SELECT retention.alter_policy('public.slow', max_runtime => '0');
SELECT max_runtime FROM retention.policies WHERE name = 'public.slow';
SELECT retention.alter_policy('public.slow', max_runtime => '-1 second');
DROP TABLE slow;

-- max_rows_per_second paces a run: 30 rows at 20 rows per second take at
-- least a second (batches are capped at one second's worth, 20 rows, and
-- the second batch may start only after that second). Only a lower bound is
-- checked; pacing cannot make a run faster.
CREATE TABLE paced (id int PRIMARY KEY, revoked_at timestamptz);
INSERT INTO paced SELECT i, now() - interval '1 day' FROM generate_series(1, 30) AS i;
SELECT retention.add_policy('paced', 'revoked_at', max_rows_per_second => 20);
SELECT max_rows_per_second FROM retention.policies WHERE name = 'public.paced';
CALL retention.run('public.paced');
SELECT finished_at - started_at >= interval '0.9 seconds' AS paced
FROM retention.runs WHERE policy = 'public.paced';
SELECT retention.add_policy('paced', 'revoked_at', name => 'bad pace', max_rows_per_second => 0);
SELECT retention.alter_policy('public.paced', max_rows_per_second => 0);
SELECT max_rows_per_second FROM retention.policies WHERE name = 'public.paced';
SELECT retention.alter_policy('public.paced', max_rows_per_second => -5);
DROP TABLE paced;

-- A policy's own target_batch_time overrides retention.target_batch_time for
-- adaptive batches: with 1 ms every batch is over target and the size halves
-- down to the minimum; with 1 minute it doubles. Same rows, same first batch.
CREATE TABLE quick (id int PRIMARY KEY, revoked_at timestamptz);
INSERT INTO quick SELECT i, now() - interval '1 day' FROM generate_series(1, 20000) AS i;
CREATE TABLE leisurely (LIKE quick INCLUDING ALL);
INSERT INTO leisurely SELECT * FROM quick;
SELECT retention.add_policy('quick', 'revoked_at', target_batch_time => '1 ms');
SELECT retention.add_policy('leisurely', 'revoked_at', target_batch_time => '1 min');
SELECT name, target_batch_time FROM retention.policies
WHERE name IN ('public.quick', 'public.leisurely') ORDER BY name;
SET retention.min_batch_size = 1000;
\o /dev/null
CALL retention.run('public.quick');
CALL retention.run('public.leisurely');
\o
RESET retention.min_batch_size;
SELECT q.rows_deleted AS quick_rows, l.rows_deleted AS leisurely_rows,
       q.batches >= 8 AS quick_small_batches, l.batches <= 4 AS leisurely_big_batches
FROM retention.runs q, retention.runs l
WHERE q.policy = 'public.quick' AND l.policy = 'public.leisurely';
-- '0' hands the policy back to the setting; out-of-range targets are refused.
SELECT retention.alter_policy('public.quick', target_batch_time => '0');
SELECT target_batch_time FROM retention.policies WHERE name = 'public.quick';
SELECT retention.alter_policy('public.quick', target_batch_time => '2 minutes');
SELECT retention.alter_policy('public.quick', target_batch_time => '500 microseconds');
SELECT retention.add_policy('quick', 'revoked_at', name => 'bad target',
                            target_batch_time => '1 day');
SELECT retention.add_policy('quick', 'revoked_at', name => 'bad target',
                            target_batch_time => '0');
SELECT count(*) AS policies_named_bad_target FROM retention.policies WHERE name = 'bad target';
DROP TABLE quick, leisurely;

-- After a big purge the run analyzes the table (more than
-- retention.analyze_threshold, 20%, of it removed) and reports the table's
-- size and dead rows before and after; after a small one it does not.
CREATE TABLE bulky (id int PRIMARY KEY, revoked_at timestamptz, pad text)
    WITH (autovacuum_enabled = off);  -- keep the dead rows for the check
INSERT INTO bulky SELECT i, CASE WHEN i <= 300 THEN now() - interval '1 day' END, repeat('x', 100)
FROM generate_series(1, 1000) AS i;
ANALYZE bulky;
SELECT retention.add_policy('bulky', 'revoked_at');
CALL retention.run('public.bulky');
SELECT analyzed, table_bytes_before > 0 AS sized, table_bytes_after > 0 AS sized_after,
       -- An assert-enabled server publishes a CALL's table statistics only
       -- when the session goes idle (ReportStatCompat in src/pg/pg_compat.h).
       (dead_rows_after >= 300 OR current_setting('debug_assertions')::bool) AS dead_rows_seen
FROM retention.runs WHERE policy = 'public.bulky';
SELECT reltuples FROM pg_class WHERE relname = 'bulky';
UPDATE bulky SET revoked_at = now() - interval '1 day' WHERE id <= 320;
CALL retention.run('public.bulky');
SELECT analyzed FROM retention.runs WHERE policy = 'public.bulky' ORDER BY run_id DESC LIMIT 1;
DROP TABLE bulky;

-- Dates, timestamps and NULL expiry (never expires).
CREATE TABLE events (id int PRIMARY KEY, happened date);
INSERT INTO events VALUES (1, current_date - 400), (2, current_date - 10), (3, NULL);
SELECT retention.add_policy('events', 'happened', retain => '1 year');
CALL retention.run('public.events');
SELECT id FROM events ORDER BY id;

DROP TABLE tokens, tokens_before, grants, events;
DROP FUNCTION swallow();
DROP EXTENSION pg_retention;
