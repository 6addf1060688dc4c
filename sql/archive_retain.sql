-- archive_retain: the second stage of an archive-mode run removes archived
-- rows older than archive_retain (by archived_at), batch by batch, as the
-- archive's owner, after the purge stage and under the same lock. It is
-- recorded apart (stage 'archive') and shown apart in status and metrics.
-- A table owner cannot point it at an archive that is not theirs.
CREATE EXTENSION pg_retention;
\set SHOW_CONTEXT never

CREATE ROLE regress_aret_owner;
CREATE ROLE regress_aret_other;

CREATE TABLE tokens (id int PRIMARY KEY, revoked_at timestamptz);
ALTER TABLE tokens OWNER TO regress_aret_owner;
INSERT INTO tokens SELECT i, now() - interval '1 year' FROM generate_series(1, 10) i;
INSERT INTO tokens SELECT i, NULL FROM generate_series(11, 12) i;

SET ROLE regress_aret_owner;
-- Refused outside archive mode, and when not positive.
SELECT retention.add_policy('tokens', 'revoked_at', name => 'bad', archive_retain => '1 day');
SELECT retention.add_policy('tokens', 'revoked_at', name => 'bad', mode => 'archive',
                            archive_retain => '0');
SELECT retention.add_policy('tokens', 'revoked_at', name => 'bad', mode => 'archive',
                            archive_retain => '-1 day');
SELECT retention.add_policy('tokens', 'revoked_at', name => 'tokens', mode => 'archive',
                            batch_size => 4, archive_retain => '30 days');
SELECT name, mode, archive_retain FROM retention.policies;
CALL retention.run('tokens');
RESET ROLE;

-- The archive now holds 10 rows, archived just now: none is past 30 days.
SELECT count(*) FROM retention_archive.tokens;
-- Age six of them past archive_retain (as if archived 40 days ago).
UPDATE retention_archive.tokens SET archived_at = now() - interval '40 days' WHERE id <= 6;

SET ROLE regress_aret_owner;
CALL retention.run('tokens');
RESET ROLE;
SELECT id FROM retention_archive.tokens ORDER BY id;
SELECT count(*) AS source_rows FROM tokens;

-- Both stages are in the history, apart; the purge stage's row first.
SELECT stage, trigger, status, rows_deleted, rows_archived, batches,
       cutoff < now() - interval '29 days' AS archive_cutoff
  FROM retention.runs ORDER BY run_id;
SELECT last_status, last_rows_deleted, archive_last_status, archive_last_rows_deleted,
       archive_rows_deleted_total, archive_runs_total, archive_failed_runs_total,
       archive_last_success_at IS NOT NULL AS archive_succeeded,
       total_rows_archived
  FROM retention.status;
SELECT policy, rows_archived_total, archive_rows_deleted_total, archive_runs_total,
       archive_failed_runs_total, archive_last_success_timestamp_seconds > 0 AS has_success
  FROM retention.metrics;

-- max_rows bounds the archive stage too.
UPDATE retention_archive.tokens SET archived_at = now() - interval '40 days';
SET ROLE regress_aret_owner;
CALL retention.run('tokens', max_rows => 3);
RESET ROLE;
SELECT stage, status, rows_deleted FROM retention.runs ORDER BY run_id DESC LIMIT 1;
SELECT count(*) FROM retention_archive.tokens;

-- alter_policy: '0' removes it; a positive value sets it again; delete mode
-- drops it.
SET ROLE regress_aret_owner;
SELECT retention.alter_policy('tokens', archive_retain => '0');
SELECT archive_retain FROM retention.policies;
CALL retention.run('tokens');
SELECT count(*) FROM retention.runs WHERE stage = 'archive';
SELECT retention.alter_policy('tokens', archive_retain => '-1 day');
SELECT retention.alter_policy('tokens', archive_retain => '1 day');
SELECT archive_retain FROM retention.policies;
SELECT retention.alter_policy('tokens', mode => 'delete', archive_retain => '1 day');
SELECT retention.alter_policy('tokens', mode => 'delete');
SELECT mode, archive_retain FROM retention.policies;
RESET ROLE;

-- Attack: a table owner names, as archive, a table of another role that it
-- may insert into. archive_retain must never delete from it.
CREATE TABLE others_archive (id int, revoked_at timestamptz,
                             archived_at timestamptz NOT NULL DEFAULT now());
ALTER TABLE others_archive OWNER TO regress_aret_other;
INSERT INTO others_archive VALUES (100, now(), now() - interval '1 year');
GRANT INSERT ON others_archive TO regress_aret_owner;
SET ROLE regress_aret_owner;
SELECT retention.alter_policy('tokens', mode => 'archive', archive_table => 'others_archive',
                              archive_retain => '1 day');
RESET ROLE;
-- Superuser-owned archive: the insert is allowed (superusers act as
-- everyone), but deleting from it is not.
ALTER TABLE others_archive OWNER TO CURRENT_USER;
GRANT INSERT ON others_archive TO regress_aret_owner;
SET ROLE regress_aret_owner;
\set VERBOSITY terse
SELECT retention.alter_policy('tokens', mode => 'archive', archive_table => 'others_archive',
                              archive_retain => '1 day');
\set VERBOSITY default
SELECT retention.alter_policy('tokens', mode => 'archive', archive_table => 'others_archive');
RESET ROLE;
-- Set while the archive was the owner's, then given away: re-checked at run.
CREATE TABLE own_archive (id int, revoked_at timestamptz,
                          archived_at timestamptz NOT NULL DEFAULT now());
ALTER TABLE own_archive OWNER TO regress_aret_owner;
INSERT INTO own_archive VALUES (200, now(), now() - interval '1 year');
SET ROLE regress_aret_owner;
SELECT retention.alter_policy('tokens', archive_table => 'own_archive', archive_retain => '1 day');
RESET ROLE;
ALTER TABLE own_archive OWNER TO regress_aret_other;
SET ROLE regress_aret_owner;
CALL retention.run('tokens');
RESET ROLE;
SELECT id FROM own_archive;
SELECT id FROM others_archive;
SELECT stage, status, rows_deleted, sqlstate FROM retention.runs ORDER BY run_id DESC LIMIT 1;
-- An archive without archived_at cannot take archive_retain.
ALTER TABLE own_archive OWNER TO regress_aret_owner;
ALTER TABLE own_archive DROP COLUMN archived_at;
SET ROLE regress_aret_owner;
SELECT retention.alter_policy('tokens', archive_table => 'own_archive');
RESET ROLE;

-- apply() takes archive_retain; preset('gitlab') keeps archived rows
-- 3 months (the seed's "2 or 3 milestones").
SET ROLE regress_aret_owner;
SELECT action, policy, changes FROM retention.apply(
  '[{"name": "tokens", "relation": "public.tokens", "expires_at": "revoked_at",
     "mode": "archive", "archive_table": "retention_archive.tokens",
     "archive_retain": "90 days"}]');
SELECT archive_retain FROM retention.policies;
SELECT action, policy, changes FROM retention.apply(
  '[{"name": "tokens", "relation": "public.tokens", "expires_at": "revoked_at",
     "mode": "archive", "archive_table": "retention_archive.tokens"}]');
SELECT archive_retain FROM retention.policies;
SELECT action FROM retention.apply('[{"name": "tokens", "relation": "public.tokens",
     "expires_at": "revoked_at", "archive_retain": 90}]');
RESET ROLE;
SELECT e->>'name', e->>'mode', e->>'archive_retain'
  FROM jsonb_array_elements(retention.preset('gitlab')) e ORDER BY 1;

DROP TABLE tokens, own_archive, others_archive;
DROP TABLE retention_archive.tokens;
DROP SCHEMA retention_archive;
DROP ROLE regress_aret_owner;
DROP ROLE regress_aret_other;
DROP EXTENSION pg_retention;
