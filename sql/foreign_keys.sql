-- Foreign keys that point at a policy's table.
CREATE EXTENSION pg_retention;
\set SHOW_CONTEXT never

CREATE TABLE applications (id int PRIMARY KEY);
CREATE TABLE tokens (id int PRIMARY KEY, app int REFERENCES applications, revoked_at timestamptz);
CREATE TABLE token_usages (id int PRIMARY KEY,
                           token_id int REFERENCES tokens ON DELETE CASCADE);
INSERT INTO applications VALUES (1);
INSERT INTO tokens SELECT i, 1, now() - interval '1 day' FROM generate_series(1, 20) AS i;
INSERT INTO token_usages SELECT i, i FROM generate_series(1, 5) AS i;

-- ON DELETE CASCADE: child rows would vanish unarchived, so archive mode is refused.
SELECT retention.add_policy('tokens', 'revoked_at', mode => 'archive');
SELECT count(*) AS archive_schemas FROM pg_namespace WHERE nspname = 'retention_archive';
-- Delete mode is allowed, with a notice.
SELECT retention.add_policy('tokens', 'revoked_at', batch_size => 5);
CALL retention.run('public.tokens');
SELECT (SELECT count(*) FROM tokens) AS tokens, (SELECT count(*) FROM token_usages) AS usages;

-- A cascade added later is caught when an archive policy runs.
DROP TABLE token_usages;
SELECT retention.alter_policy('public.tokens', mode => 'archive');
CREATE TABLE token_usages (id int PRIMARY KEY,
                           token_id int REFERENCES tokens ON DELETE SET NULL);
INSERT INTO tokens SELECT i, 1, now() - interval '1 day' FROM generate_series(1, 5) AS i;
CALL retention.run('public.tokens');
SELECT status, sqlstate FROM retention.runs ORDER BY run_id DESC LIMIT 1;
SELECT count(*) AS tokens_kept FROM tokens;
DROP TABLE token_usages;

-- RESTRICT / NO ACTION: the batch fails with 23503, is recorded, and the run
-- stops instead of retrying the same batch forever.
SELECT retention.alter_policy('public.tokens', mode => 'delete');
CREATE TABLE token_audit (id int PRIMARY KEY, token_id int REFERENCES tokens);
INSERT INTO token_audit VALUES (1, 3);
CALL retention.run('public.tokens');
SELECT status, sqlstate, batches, rows_deleted FROM retention.runs ORDER BY run_id DESC LIMIT 1;
SELECT count(*) AS tokens_kept FROM tokens;

-- Deferred foreign keys are checked with each batch (they cannot fire at
-- commit, outside the policy owner's restricted context).
DROP TABLE token_audit;
CREATE TABLE token_audit (id int PRIMARY KEY,
                          token_id int REFERENCES tokens DEFERRABLE INITIALLY DEFERRED);
INSERT INTO token_audit VALUES (1, 3);
CALL retention.run('public.tokens');
SELECT status, sqlstate FROM retention.runs ORDER BY run_id DESC LIMIT 1;
DELETE FROM token_audit;
CALL retention.run('public.tokens');
SELECT count(*) AS tokens_left FROM tokens;

-- The application table the tokens reference is unaffected either way.
SELECT count(*) FROM applications;

DROP TABLE token_audit, tokens, applications;
DROP SCHEMA retention_archive CASCADE;
DROP EXTENSION pg_retention;
