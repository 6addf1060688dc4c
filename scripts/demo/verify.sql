-- scripts/demo/verify.sql: every row is in exactly one place.
--
-- For each policy, with the cutoff of its last successful run:
--   * rows in the source + rows archived (or deleted) = rows before;
--   * the source holds exactly the rows that had not expired by the cutoff;
--   * the archive holds exactly the rows that had (archive mode), or the
--     number of deleted rows is the number of expired rows (delete mode);
--   * no id is in both the source and the archive;
--   * every surviving or archived row has the contents it had before.
-- Prints one line per check and fails (psql exits non-zero) if any fails.

CREATE FUNCTION demo.verify()
RETURNS TABLE (policy text, "check" text, expected bigint, actual bigint, ok boolean)
LANGUAGE plpgsql AS $$
DECLARE
    s        record;
    cutoff   timestamptz;
    deleted  bigint;
    n_src    bigint;
    n_arch   bigint;
    n        bigint;
    before   text;
    arch_sel text;
BEGIN
    FOR s IN SELECT * FROM demo.subject ORDER BY ord LOOP
        policy := s.policy;
        before := format('demo.%I', 'before_' || s.tbl::text);
        SELECT max(r.cutoff), sum(r.rows_deleted) INTO cutoff, deleted
          FROM retention.runs r
         WHERE r.policy = s.policy AND r.status = 'ok';
        IF cutoff IS NULL THEN
            "check" := 'policy ran successfully'; expected := 1; actual := 0; ok := false;
            RETURN NEXT;
            CONTINUE;
        END IF;
        EXECUTE format('SELECT count(*) FROM %s', s.tbl) INTO n_src;
        IF s.archive IS NOT NULL THEN
            EXECUTE format('SELECT count(*) FROM %s', s.archive) INTO n_arch;
            arch_sel := format('SELECT id, to_jsonb(a) - ''archived_at'' AS j FROM %s AS a', s.archive);
        ELSE
            n_arch := NULL;
            arch_sel := 'SELECT NULL::bigint AS id, NULL::jsonb AS j WHERE false';
        END IF;

        "check" := CASE WHEN s.archive IS NOT NULL THEN 'source + archive = rows before'
                        ELSE 'source + deleted = rows before' END;
        expected := s.rows_before;
        actual := n_src + coalesce(n_arch, deleted);
        ok := expected = actual;
        RETURN NEXT;

        -- Rows that should have stayed, and did; or should have gone, and did not.
        "check" := 'source = rows not expired at cutoff';
        EXECUTE format('SELECT count(*) FROM %s WHERE NOT coalesce(expires < $1, false)', before)
           INTO expected USING cutoff;
        -- Source rows that are not in the snapshot, or had expired.
        EXECUTE format(
            'SELECT count(*) FROM %s t LEFT JOIN %s b USING (id)
              WHERE b.id IS NULL OR coalesce(b.expires < $1, false)', s.tbl, before)
           INTO n USING cutoff;
        actual := n_src - n;     -- source rows that belong there (ids are unique)
        ok := actual = expected AND n_src = expected;
        RETURN NEXT;

        IF s.archive IS NOT NULL THEN
            "check" := 'archive = rows expired at cutoff';
            EXECUTE format('SELECT count(*) FROM %s WHERE expires < $1', before)
               INTO expected USING cutoff;
            EXECUTE format(
                'SELECT count(*) FROM (%s) a LEFT JOIN %s b USING (id)
                  WHERE b.id IS NULL OR NOT coalesce(b.expires < $1, false)', arch_sel, before)
               INTO n USING cutoff;
            actual := n_arch - n;    -- archived rows that belonged there
            ok := actual = expected AND n_arch = expected;
            RETURN NEXT;

            "check" := 'ids in both source and archive';
            EXECUTE format('SELECT count(*) FROM %s t JOIN %s a USING (id)', s.tbl, s.archive)
               INTO actual;
            expected := 0;
            ok := actual = 0;
            RETURN NEXT;
        ELSE
            "check" := 'deleted = rows expired at cutoff';
            EXECUTE format('SELECT count(*) FROM %s WHERE expires < $1', before)
               INTO expected USING cutoff;
            actual := deleted;
            ok := actual = expected;
            RETURN NEXT;
        END IF;

        "check" := 'rows with changed contents';
        EXECUTE format(
            'SELECT count(*)
               FROM (SELECT id, to_jsonb(t) AS j FROM %s AS t UNION ALL %s) x
               JOIN %s b USING (id)
              WHERE hashtextextended(x.j::text, 0) <> b.fp', s.tbl, arch_sel, before)
           INTO actual;
        expected := 0;
        ok := actual = 0;
        RETURN NEXT;
    END LOOP;
END
$$;

CREATE TEMP TABLE verdict AS SELECT * FROM demo.verify();
SELECT policy, "check", expected, actual, CASE WHEN ok THEN 'ok' ELSE 'FAILED' END AS result
  FROM verdict;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM verdict WHERE NOT ok) THEN
        RAISE EXCEPTION 'verification failed: % check(s) did not hold',
            (SELECT count(*) FROM verdict WHERE NOT ok);
    END IF;
END
$$;
\echo
\echo 'All checks passed: every row is in exactly one place.'
