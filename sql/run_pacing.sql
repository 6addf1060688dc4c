-- max_rows_per_second paces rows REMOVED, not rows visited: a run over a
-- table with nothing to purge goes at scan speed. At one row per second a
-- pacing of rows visited would take an hour here; the run instead takes one
-- probing batch of one row, then batches of the policy's size, and never
-- waits (nothing removed, nothing to pay for).
CREATE EXTENSION pg_retention;
CREATE TABLE fresh (id int PRIMARY KEY, revoked_at timestamptz);
INSERT INTO fresh SELECT i, now() + interval '1 day' FROM generate_series(1, 3000) AS i;
SELECT retention.add_policy('fresh', 'revoked_at', batch_size => 1000, max_rows_per_second => 1);
CALL retention.run('public.fresh');
SELECT status, rows_deleted, batches FROM retention.runs WHERE policy = 'public.fresh';
-- Rows to purge are still paced: the first batch is one second's worth.
UPDATE fresh SET revoked_at = now() - interval '1 day' WHERE id <= 2;
CALL retention.run('public.fresh', max_rows => 1);
SELECT status, rows_deleted, batches FROM retention.runs
WHERE policy = 'public.fresh' ORDER BY run_id DESC LIMIT 1;
DROP TABLE fresh;
DROP EXTENSION pg_retention;
