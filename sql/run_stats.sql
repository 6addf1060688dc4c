-- Right after a run the table's statistics tell the truth: the run publishes
-- its counts before it ends (and before its own ANALYZE, whose live count
-- they must not undo), so n_live_tup and reltuples are near the rows left.
CREATE EXTENSION pg_retention;
-- autovacuum off for the table: the run analyzes it itself.
CREATE TABLE stats_off (id int PRIMARY KEY, revoked_at timestamptz)
    WITH (autovacuum_enabled = off);
INSERT INTO stats_off SELECT i, CASE WHEN i <= 30000 THEN now() - interval '1 day' END
FROM generate_series(1, 80000) AS i;
-- The session's own inserts are published before its ANALYZE (at idle).
SELECT pg_stat_force_next_flush();
ANALYZE stats_off;
SELECT retention.add_policy('stats_off', 'revoked_at', batch_size => 5000);
CALL retention.run('public.stats_off');
SELECT rows_deleted, analyzed FROM retention.runs WHERE policy = 'public.stats_off';
-- An assert-enabled server cannot publish inside the CALL's transaction
-- (ReportStatCompat in src/pg/pg_compat.h), so its counts land after the
-- ANALYZE there.
SELECT (n_live_tup BETWEEN 45000 AND 55000 OR current_setting('debug_assertions')::bool)
           AS live_right,
       (SELECT reltuples BETWEEN 45000 AND 55000 FROM pg_class WHERE relname = 'stats_off')
           AS reltuples_right
FROM pg_stat_user_tables WHERE relname = 'stats_off';
-- autovacuum on: the run leaves ANALYZE to it; the live count is right all
-- the same.
CREATE TABLE stats_on (id int PRIMARY KEY, revoked_at timestamptz);
INSERT INTO stats_on SELECT i, CASE WHEN i <= 30000 THEN now() - interval '1 day' END
FROM generate_series(1, 80000) AS i;
SELECT pg_stat_force_next_flush();
ANALYZE stats_on;
SELECT retention.add_policy('stats_on', 'revoked_at', batch_size => 5000);
CALL retention.run('public.stats_on');
SELECT pg_stat_force_next_flush();  -- for an assert-enabled server (see above)
SELECT rows_deleted, analyzed FROM retention.runs WHERE policy = 'public.stats_on';
SELECT n_live_tup BETWEEN 45000 AND 55000 AS live_right
FROM pg_stat_user_tables WHERE relname = 'stats_on';
DROP TABLE stats_off, stats_on;
DROP EXTENSION pg_retention;
