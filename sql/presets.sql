-- retention.preset(): the policies of common authentication servers, checked
-- against those projects' own table definitions (column names and types as
-- their migrations create them), applied, and run.
CREATE EXTENSION pg_retention;
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE SCHEMA auth;

-- Doorkeeper (and GitLab's db/structure.sql).
CREATE TABLE auth.oauth_access_tokens (
    id bigint PRIMARY KEY, resource_owner_id bigint, application_id bigint,
    token character varying NOT NULL, refresh_token character varying,
    expires_in integer DEFAULT 7200, revoked_at timestamp without time zone,
    created_at timestamp without time zone NOT NULL, scopes character varying,
    previous_refresh_token character varying DEFAULT ''::character varying NOT NULL);
CREATE TABLE auth.oauth_access_grants (
    id bigint PRIMARY KEY, resource_owner_id bigint NOT NULL, application_id bigint NOT NULL,
    token character varying NOT NULL, expires_in integer NOT NULL, redirect_uri text NOT NULL,
    created_at timestamp without time zone NOT NULL, revoked_at timestamp without time zone,
    scopes character varying DEFAULT ''::character varying NOT NULL,
    code_challenge text, code_challenge_method text);
-- GitLab.
CREATE TABLE auth.authentication_events (
    id bigint PRIMARY KEY, created_at timestamp with time zone NOT NULL, user_id bigint,
    result smallint NOT NULL, ip_address inet, provider text NOT NULL, user_name text NOT NULL);
-- Ory Hydra (persistence/sql/migrations).
CREATE TABLE auth.hydra_oauth2_access (
    signature varchar(255) PRIMARY KEY, request_id varchar(40) NOT NULL,
    requested_at timestamp NOT NULL DEFAULT now(), client_id varchar(255) NOT NULL,
    scope text NOT NULL, granted_scope text NOT NULL, form_data text NOT NULL,
    session_data text NOT NULL, subject varchar(255) NOT NULL DEFAULT '',
    active bool NOT NULL DEFAULT true, requested_audience text DEFAULT '',
    granted_audience text DEFAULT '', challenge_id varchar(40), nid uuid,
    expires_at timestamp);
CREATE TABLE auth.hydra_oauth2_refresh (LIKE auth.hydra_oauth2_access INCLUDING ALL);
CREATE TABLE auth.hydra_oauth2_code (LIKE auth.hydra_oauth2_access INCLUDING ALL);
-- Keycloak (JPA changelogs).
CREATE TABLE auth.offline_user_session (
    user_session_id varchar(36) NOT NULL, user_id varchar(255) NOT NULL,
    realm_id varchar(36) NOT NULL, created_on integer NOT NULL,
    offline_flag varchar(4) NOT NULL, data text, last_session_refresh integer NOT NULL DEFAULT 0,
    broker_session_id varchar(1024), version integer DEFAULT 0,
    PRIMARY KEY (user_session_id, offline_flag));
CREATE TABLE auth.offline_client_session (
    user_session_id varchar(36) NOT NULL, client_id varchar(255) NOT NULL,
    offline_flag varchar(4) NOT NULL, "timestamp" integer, data text,
    client_storage_provider varchar(36) NOT NULL DEFAULT 'local',
    external_client_id varchar(255) NOT NULL DEFAULT 'local', version integer DEFAULT 0,
    PRIMARY KEY (user_session_id, client_id, client_storage_provider, external_client_id,
                 offline_flag));
CREATE TABLE auth.event_entity (
    id varchar(36) PRIMARY KEY, client_id varchar(255), details_json varchar(2550),
    error varchar(255), ip_address varchar(255), realm_id varchar(255),
    session_id varchar(255), event_time bigint, type varchar(255), user_id varchar(255),
    details_json_long_value text);
CREATE TABLE auth.admin_event_entity (
    id varchar(36) PRIMARY KEY, admin_event_time bigint, realm_id varchar(255),
    operation_type varchar(255), auth_realm_id varchar(255), auth_client_id varchar(255),
    auth_user_id varchar(255), ip_address varchar(255), resource_path varchar(2550),
    representation text, error varchar(255), resource_type varchar(64), details_json text);
-- Coder (coderd/database/dump.sql).
CREATE TABLE auth.api_keys (
    id text PRIMARY KEY, hashed_secret bytea NOT NULL, user_id uuid NOT NULL,
    last_used timestamp with time zone NOT NULL, expires_at timestamp with time zone NOT NULL,
    created_at timestamp with time zone NOT NULL, updated_at timestamp with time zone NOT NULL,
    login_type text NOT NULL, lifetime_seconds bigint DEFAULT 86400 NOT NULL,
    ip_address inet DEFAULT '0.0.0.0'::inet NOT NULL, token_name text DEFAULT ''::text NOT NULL,
    scopes text[] NOT NULL, allow_list text[] NOT NULL);
-- authgate (GORM models in internal/models).
CREATE TABLE auth.access_tokens (
    id text PRIMARY KEY, token_hash text NOT NULL, token_type text NOT NULL DEFAULT 'Bearer',
    token_category text NOT NULL DEFAULT 'access', status text NOT NULL DEFAULT 'active',
    user_id text NOT NULL, client_id text NOT NULL, scopes text NOT NULL,
    expires_at timestamptz, created_at timestamptz, last_used_at timestamptz,
    parent_token_id text, token_family_id text NOT NULL DEFAULT '', authorization_id bigint,
    resource json);
CREATE TABLE auth.device_codes (
    id bigserial PRIMARY KEY, device_code_hash text NOT NULL, device_code_salt text NOT NULL,
    device_code_id text NOT NULL, user_code text NOT NULL, client_id text NOT NULL,
    scopes text NOT NULL, expires_at timestamptz, interval bigint, user_id text,
    authorized boolean DEFAULT false, authorized_at timestamptz, created_at timestamptz,
    updated_at timestamptz);
CREATE TABLE auth.authorization_codes (
    id bigserial PRIMARY KEY, code_hash text NOT NULL, client_id text NOT NULL,
    user_id text NOT NULL, redirect_uri text NOT NULL, scopes text NOT NULL,
    code_challenge text, code_challenge_method text, expires_at timestamptz,
    used_at timestamptz, created_at timestamptz);
CREATE TABLE auth.audit_logs (
    id varchar(36) PRIMARY KEY, event_type varchar(50) NOT NULL,
    event_time timestamptz NOT NULL, severity varchar(20) NOT NULL,
    actor_user_id varchar(36), actor_username varchar(100), actor_ip varchar(45),
    resource_type varchar(50), resource_id varchar(36), resource_name varchar(255),
    action varchar(255) NOT NULL, details json, success boolean NOT NULL,
    error_message text, user_agent varchar(500), request_path varchar(500),
    request_method varchar(10), created_at timestamptz NOT NULL);
RESET client_min_messages;

-- What a preset says.
SELECT jsonb_pretty(retention.preset('doorkeeper', 'auth'));
SELECT p ->> 'name' AS name, p ->> 'relation' AS relation, p ->> 'expires_at' AS expires_at,
       p ->> 'retain' AS retain, p ->> 'mode' AS mode
  FROM unnest(ARRAY['gitlab', 'hydra', 'keycloak', 'coder', 'authgate']) AS n,
       jsonb_array_elements(retention.preset(n, 'auth')) AS p;
-- The default schema is public.
SELECT retention.preset('coder') -> 0 ->> 'relation';
-- Unknown preset: the error lists the known ones.
SELECT retention.preset('okta');
SELECT retention.preset(NULL);

-- Every preset applies to the real tables (gitlab's archive mode creates the
-- archive tables); doorkeeper and gitlab share tables, so one at a time.
SELECT action, count(*) FROM retention.apply(
    retention.preset('doorkeeper', 'auth') || retention.preset('hydra', 'auth')
    || retention.preset('keycloak', 'auth') || retention.preset('coder', 'auth')
    || retention.preset('authgate', 'auth')) GROUP BY action;
SELECT count(*) AS changes FROM retention.apply(
    retention.preset('doorkeeper', 'auth') || retention.preset('hydra', 'auth')
    || retention.preset('keycloak', 'auth') || retention.preset('coder', 'auth')
    || retention.preset('authgate', 'auth'));
SELECT action, policy FROM retention.apply(retention.preset('gitlab', 'auth')) ORDER BY 1, 2;
SELECT name, archive_table IS NOT NULL AS archives FROM retention.policies ORDER BY name;

-- A run with real rows: Doorkeeper's revoked tokens go after a month.
SELECT action FROM retention.apply(retention.preset('doorkeeper', 'auth'));
INSERT INTO auth.oauth_access_tokens (id, token, created_at, revoked_at)
SELECT i, 't' || i, now() - interval '90 days',
       CASE WHEN i % 2 = 0 THEN now() - interval '40 days'
            WHEN i % 3 = 0 THEN now() - interval '3 days' END
  FROM generate_series(1, 60) AS i;
INSERT INTO auth.oauth_access_grants (id, resource_owner_id, application_id, token, expires_in,
                                      redirect_uri, created_at, revoked_at)
SELECT i, 1, 1, 'g' || i, 600, 'https://example.com/cb',
       CASE WHEN i <= 10 THEN now() - interval '60 days' ELSE now() END, NULL
  FROM generate_series(1, 30) AS i;
CALL retention.run('doorkeeper_access_tokens');
CALL retention.run('doorkeeper_access_grants');
SELECT count(*) FILTER (WHERE revoked_at IS NULL) AS active,
       count(*) FILTER (WHERE revoked_at IS NOT NULL) AS revoked_recently
  FROM auth.oauth_access_tokens;
SELECT count(*) AS grants_left FROM auth.oauth_access_grants;

SELECT count(*) FROM retention.apply('[]');
SET client_min_messages = warning;
DROP EXTENSION pg_retention;
DROP SCHEMA auth CASCADE;
DROP SCHEMA retention_archive CASCADE;
