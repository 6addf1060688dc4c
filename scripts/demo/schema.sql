-- scripts/demo/schema.sql: the Doorkeeper/GitLab-shaped tables of the demo.
-- Column names and types follow GitLab's db/structure.sql; only the indexes
-- the demo needs are created.

CREATE EXTENSION pg_retention;
CREATE EXTENSION pgstattuple;   -- free-space figures after VACUUM

-- Fail early and clearly if the installed extension is not the expected one.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_proc
                    WHERE proname = 'add_policy'
                      AND pronamespace = to_regnamespace('retention'))
       OR to_regprocedure('retention.preview(text)') IS NULL
       OR to_regclass('retention.runs') IS NULL THEN
        RAISE EXCEPTION 'the installed pg_retention does not provide the expected SQL API'
            USING HINT = 'Build and install this repository (run without --no-build).';
    END IF;
END
$$;

CREATE TABLE oauth_access_tokens (
    id                bigserial   PRIMARY KEY,
    resource_owner_id bigint,
    application_id    bigint,
    token             text        NOT NULL UNIQUE,
    refresh_token     text,
    expires_in        integer,
    revoked_at        timestamptz,
    created_at        timestamptz NOT NULL,
    scopes            text
);

CREATE TABLE oauth_access_grants (
    id                bigserial   PRIMARY KEY,
    resource_owner_id bigint      NOT NULL,
    application_id    bigint      NOT NULL,
    token             text        NOT NULL UNIQUE,
    expires_in        integer     NOT NULL,
    redirect_uri      text        NOT NULL,
    created_at        timestamptz NOT NULL,
    revoked_at        timestamptz,
    scopes            text        NOT NULL DEFAULT ''
);

CREATE TABLE authentication_events (
    id         bigserial   PRIMARY KEY,
    created_at timestamptz NOT NULL,
    user_id    bigint,
    result     smallint    NOT NULL,   -- 0 failed, 1 success
    ip_address inet,
    provider   text        NOT NULL,
    user_name  text        NOT NULL
);
-- An index on the expiry column: the policy finds its rows through it.
CREATE INDEX authentication_events_created_at_idx ON authentication_events (created_at);

-- Bookkeeping of the demo itself (not part of the GitLab schema).
CREATE SCHEMA demo;
