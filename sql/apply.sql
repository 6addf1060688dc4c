-- retention.apply(): converge the current role's policies to a JSON list.
-- Adds, alters and drops; a second call changes nothing; a dry run returns
-- the same diff and changes nothing; bad input changes nothing; a role never
-- alters or drops another role's policies through it.
CREATE EXTENSION pg_retention;
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE ROLE apply_alice;
CREATE ROLE apply_bob;
CREATE SCHEMA app AUTHORIZATION apply_alice;
GRANT USAGE ON SCHEMA app TO apply_bob;
RESET client_min_messages;

SET ROLE apply_alice;
CREATE TABLE app.sessions (id bigint PRIMARY KEY, expires_at timestamptz NOT NULL, kind text);
CREATE TABLE app.events (id bigint PRIMARY KEY, at timestamptz NOT NULL);
CREATE TABLE app.codes (id bigint PRIMARY KEY, used_at timestamptz);
RESET ROLE;
CREATE TABLE app.bob_tokens (id bigint PRIMARY KEY, revoked_at timestamptz);
ALTER TABLE app.bob_tokens OWNER TO apply_bob;
SET ROLE apply_bob;
SELECT retention.add_policy('app.bob_tokens', 'revoked_at', name => 'bob_tokens');
RESET ROLE;

SET ROLE apply_alice;
\set desired '[{"name": "sessions", "relation": "app.sessions", "expires_at": "expires_at", "retain": "1 day", "filter": "kind <> ''sticky''"}, {"name": "events", "relation": "app.events", "expires_at": "at", "retain": "90 days", "schedule": "15 minutes", "batch_size": 500}]'

-- A dry run reports the additions and adds nothing.
SELECT action, policy, changes FROM retention.apply(:'desired', dry_run => true);
SELECT count(*) FROM retention.policies WHERE owner = 'apply_alice';
-- The real run returns the same diff.
SELECT action, policy, changes FROM retention.apply(:'desired');
SELECT name, relation, expires_at, retain, filter, schedule, batch_size
  FROM retention.policies WHERE owner = 'apply_alice' ORDER BY name;
-- Run twice, it changes nothing.
SELECT count(*) AS changes FROM retention.apply(:'desired');
SELECT count(*) AS changes FROM retention.apply(:'desired', dry_run => true);

-- Alter one setting, reset another to its default, add one, drop one.
\set desired2 '[{"name": "sessions", "relation": "app.sessions", "expires_at": "expires_at", "retain": "2 days", "filter": "kind <> ''sticky''"}, {"name": "codes", "relation": "app.codes", "expires_at": "used_at", "enabled": false}]'
SELECT action, policy, changes FROM retention.apply(:'desired2', dry_run => true);
SELECT name, retain, enabled FROM retention.policies WHERE owner = 'apply_alice' ORDER BY name;
SELECT action, policy, changes FROM retention.apply(:'desired2');
SELECT name, retain, enabled FROM retention.policies WHERE owner = 'apply_alice' ORDER BY name;
SELECT count(*) AS changes FROM retention.apply(:'desired2');
-- A policy whose table changes is replaced.
SELECT action, policy, changes -> 'relation' AS relation
  FROM retention.apply('[{"name": "codes", "relation": "app.events", "expires_at": "at", "enabled": false}]');

-- Bad input: clear errors, nothing changes.
SELECT * FROM retention.apply('{"name": "x"}');
SELECT * FROM retention.apply(NULL);
SELECT * FROM retention.apply('[1]');
SELECT * FROM retention.apply('[{"name": "sessions", "relation": "app.sessions", "expires_at": "expires_at", "retian": "1 day"}]');
SELECT * FROM retention.apply('[{"name": "sessions", "relation": "app.sessions", "expires_at": "expires_at", "batch_size": "100"}]');
SELECT * FROM retention.apply('[{"name": "sessions", "relation": "app.sessions", "expires_at": "expires_at", "batch_size": 1.5}]');
SELECT * FROM retention.apply('[{"name": "sessions", "relation": "app.sessions", "expires_at": "expires_at", "enabled": "yes"}]');
SELECT * FROM retention.apply('[{"name": "sessions", "relation": "app.sessions"}]');
SELECT * FROM retention.apply('[{"relation": "app.sessions", "expires_at": "expires_at"}]');
SELECT * FROM retention.apply('[{"name": "a", "relation": "app.sessions", "expires_at": "expires_at"}, {"name": "a", "relation": "app.events", "expires_at": "at"}]');
SELECT * FROM retention.apply('[{"name": "s", "relation": "sessions", "expires_at": "expires_at"}]');
-- An error in the second element undoes the first (atomic).
SELECT * FROM retention.apply('[{"name": "new_one", "relation": "app.events", "expires_at": "at"}, {"name": "bad", "relation": "app.sessions", "expires_at": "no_such_column"}]');
SELECT name, retain, enabled FROM retention.policies WHERE owner = 'apply_alice' ORDER BY name;

-- As an attacker: alice can neither alter nor drop bob's policy, nor add
-- one on bob's table, through apply().
SELECT * FROM retention.apply('[{"name": "bob_tokens", "relation": "app.bob_tokens", "expires_at": "revoked_at", "retain": "0"}]');
SELECT * FROM retention.apply('[{"name": "mine", "relation": "app.bob_tokens", "expires_at": "revoked_at"}]');
-- Even when alice may see bob's policy (pg_monitor), apply() refuses it.
RESET ROLE;
GRANT pg_monitor TO apply_alice;
SET ROLE apply_alice;
SELECT * FROM retention.apply('[{"name": "bob_tokens", "relation": "app.bob_tokens", "expires_at": "revoked_at", "retain": "1 day"}]');
SELECT count(*) AS changes FROM retention.apply('[{"name": "bob_tokens", "relation": "app.bob_tokens", "expires_at": "revoked_at", "retain": "1 day"}]', dry_run => true);
-- An empty list drops alice's policies only.
SELECT action, policy FROM retention.apply('[]');
RESET ROLE;
SELECT name, owner, retain FROM retention.policies ORDER BY name;
-- A superuser's apply('[]') manages the superuser's own policies: none.
SELECT count(*) FROM retention.apply('[]');
SELECT name, owner FROM retention.policies ORDER BY name;

DROP EXTENSION pg_retention;
DROP SCHEMA app CASCADE;
DROP ROLE apply_alice;
DROP ROLE apply_bob;
