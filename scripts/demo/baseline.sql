-- scripts/demo/baseline.sql: remember every row before the policies run, so
-- that verify.sql can prove where each one went. The expiry expressions are
-- written out again here (not read back from the policies) so that the check
-- does not trust the extension's own copy.

CREATE TABLE demo.subject (
    ord            integer  PRIMARY KEY,
    tbl            regclass NOT NULL,
    policy         text     NOT NULL,
    expiry         text     NOT NULL,
    archive        regclass,
    rows_before    bigint,
    expired_before bigint,         -- expired longer ago than the policy retains
    first_created  timestamptz,
    last_created   timestamptz,
    size_before    bigint,
    archive_before bigint,
    size_after     bigint,
    archive_after  bigint,
    size_vacuumed  bigint,
    free_vacuumed  bigint,         -- free space in the heap after VACUUM
    free_percent   numeric
);

INSERT INTO demo.subject (ord, tbl, policy, expiry)
VALUES (1, 'oauth_access_tokens', 'public.oauth_access_tokens', 'revoked_at'),
       (2, 'oauth_access_grants', 'public.oauth_access_grants',
        'coalesce(revoked_at, created_at + make_interval(secs => expires_in))'),
       (3, 'authentication_events', 'public.authentication_events', 'created_at');

UPDATE demo.subject s
   SET archive = p.archive_table
  FROM retention.policies p
 WHERE p.name = s.policy;

-- One row per source row: its id, its expiry and a hash of its contents.
DO $$
DECLARE
    s record;
BEGIN
    FOR s IN SELECT * FROM demo.subject ORDER BY ord LOOP
        EXECUTE format(
            'CREATE TABLE demo.%I AS
             SELECT id, (%s)::timestamptz AS expires,
                    hashtextextended(to_jsonb(t)::text, 0) AS fp
               FROM %s AS t',
            'before_' || s.tbl::text, s.expiry, s.tbl);
        EXECUTE format('ALTER TABLE demo.%I ADD PRIMARY KEY (id)', 'before_' || s.tbl::text);
        EXECUTE format('ANALYZE demo.%I', 'before_' || s.tbl::text);
        EXECUTE format(
            'UPDATE demo.subject
                SET (rows_before, first_created, last_created) =
                    (SELECT count(*), min(created_at), max(created_at) FROM %s),
                    expired_before =
                    (SELECT count(*) FROM demo.%I
                      WHERE expires < now() - (SELECT retain FROM retention.policies
                                                WHERE name = %L))
              WHERE ord = %s',
            s.tbl, 'before_' || s.tbl::text, s.policy, s.ord);
    END LOOP;
END
$$;

UPDATE demo.subject
   SET size_before    = pg_total_relation_size(tbl),
       archive_before = CASE WHEN archive IS NOT NULL THEN pg_total_relation_size(archive) END;
