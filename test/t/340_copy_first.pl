# The copy-first form of an archive batch (issue #11, speed). A key-walk
# archive batch copies its range with an INSERT and deletes the rows with a
# DELETE in a WITH clause that runs after it, so no RETURNING rows go
# through a tuple store. A batch is kept only when the rows it deleted are
# exactly the rows it copied: a row that another session holds locked is
# copied but not deleted, so the batch is rolled back and run again with
# DELETE ... RETURNING, which leaves that row in the table alone. A table or
# archive with triggers, and a session that does not count statistics, never
# take the copy-first form. Every row ends in exactly one place.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use RetentionTAP;

my $node = RetentionTAP::new_node('main');
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION pg_retention;
CREATE TABLE tokens (id integer PRIMARY KEY, token text NOT NULL, revoked_at timestamptz);
SELECT retention.add_policy('tokens', 'revoked_at', mode => 'archive', batch_size => 1000);
});

# Ids FIRST..LAST: every third one live, the others revoked long ago.
sub fill
{
	my ($first, $last) = @_;
	$node->safe_psql('postgres', qq{
INSERT INTO tokens
SELECT i, 'tok' || i, CASE WHEN i % 3 <> 0 THEN timestamptz '2001-01-01' + i * interval '1 minute' END
  FROM generate_series($first, $last) AS i;
});
}

# Runs a policy (public.tokens by default) with the batch statements' plans
# and DEBUG1 messages in the server log; returns (the run's row, the log it
# wrote).
sub run_logged
{
	my ($settings, $policy) = @_;
	$settings //= '';
	$policy //= 'public.tokens';
	my $offset = -s $node->logfile;
	my $row = $node->safe_psql('postgres', qq{
LOAD 'auto_explain';
SET auto_explain.log_min_duration = 0;
SET auto_explain.log_nested_statements = on;
SET log_min_messages = debug1;
$settings
CALL retention.run('$policy');
SELECT status || ' ' || rows_deleted || ' ' || rows_archived FROM retention.runs
 ORDER BY run_id DESC LIMIT 1;
});
	my ($status) = (split /\n/, $row)[-1];
	return ($status, slurp_file($node->logfile, $offset));
}

# Each id of FIRST..LAST in exactly one place: live ones and LEFT in the
# table only, the others in the archive only.
sub check_places
{
	my ($first, $last, $left, $name) = @_;
	my $wrong = $node->safe_psql('postgres', qq{
SELECT count(*) FROM generate_series($first, $last) AS i
 WHERE (SELECT count(*) FROM tokens t WHERE t.id = i)
       + (SELECT count(*) FROM retention_archive.tokens a WHERE a.id = i) <> 1
    OR ((i % 3 = 0 OR i = $left) AND NOT EXISTS (SELECT 1 FROM tokens t WHERE t.id = i));
});
	is($wrong, '0', "$name: every row in exactly one place");
}

my $copy_first = qr/\)\n\s*INSERT INTO retention_archive\.tokens \(id, token, revoked_at\)\n\s*SELECT t\.id, t\.token, t\.revoked_at FROM ONLY public\.tokens t/;
my $fallback = qr/copy-first batch copied (\d+) rows but deleted (\d+)/;

# 1. Nothing in the way: the batches take the copy-first form.
fill(1, 3000);
my ($status, $log) = run_logged();
is($status, 'ok 2000 2000', 'copy-first run archives every expired row');
like($log, $copy_first, 'the batch ran as INSERT with the DELETE in a WITH clause');
unlike($log, qr/RETURNING t\.id, t\.token, t\.revoked_at/, 'no batch fell back to DELETE ... RETURNING');
unlike($log, $fallback, 'no batch was run twice');
unlike($log, qr/archive batches ran twice/, 'and the server log says nothing of it');
check_places(1, 3000, 0, 'copy-first');

# 2. Another session holds an expired row locked: its batch copies it but
# cannot delete it, is rolled back and runs again with DELETE ... RETURNING,
# which skips the row. The other batches keep the copy-first form.
fill(3001, 6000);
my $holder = $node->background_psql('postgres');
$holder->query_safe('BEGIN');
$holder->query_safe('SELECT id FROM tokens WHERE id = 4001 FOR SHARE');
($status, $log) = run_logged();
is($status, 'ok 1999 1999', 'the locked row is neither deleted nor archived');
like($log, $fallback, 'the batch with the locked row fell back');
my ($copied, $deleted) = $log =~ $fallback;
is($copied - $deleted, 1, 'it had copied exactly the locked row more than it deleted');
like($log, qr/RETURNING t\.id, t\.token, t\.revoked_at/, 'it ran again with DELETE ... RETURNING');
like($log, qr/LOG:  retention policy "public\.tokens": 1 of \d+ archive batches ran twice/,
	'the server log says so once for the run');
like($log, $copy_first, 'the other batches took the copy-first form');
$holder->query_safe('COMMIT');
$holder->quit;
check_places(3001, 6000, 4001, 'fallback');
($status, $log) = run_logged();
is($status, 'ok 1 1', 'once the lock is gone the row is archived');
check_places(1, 6000, 0, 'after the lock');

# 3. Where a count could be off, the copy-first form is never used.
sub returning_only
{
	my ($name, $settings) = @_;
	fill($_[2], $_[3]);
	my ($st, $lg) = run_logged($settings);
	is($st, 'ok 2000 2000', "$name: every expired row archived");
	unlike($lg, $copy_first, "$name: no copy-first batch");
	like($lg, qr/RETURNING t\.id, t\.token, t\.revoked_at/, "$name: DELETE ... RETURNING");
	check_places($_[2], $_[3], 0, $name);
}
$node->safe_psql('postgres', q{
CREATE FUNCTION noop() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NULL; END$$;
CREATE TRIGGER noop AFTER DELETE ON tokens FOR EACH ROW EXECUTE FUNCTION noop();
});
returning_only('trigger on the table', '', 6001, 9000);
$node->safe_psql('postgres', q{
DROP TRIGGER noop ON tokens;
CREATE TRIGGER noop AFTER INSERT ON retention_archive.tokens FOR EACH ROW EXECUTE FUNCTION noop();
});
returning_only('trigger on the archive', '', 9001, 12000);
$node->safe_psql('postgres', 'DROP TRIGGER noop ON retention_archive.tokens');
returning_only('track_counts off', 'SET track_counts = off;', 12001, 15000);

# 4. The table owner's code in the statement (a hostile review): with it
# the predicate may mean something else in the INSERT than in the DELETE, or
# the statistics counter may count deletes that are not the batch's. None of
# these policies takes the copy-first form, and no row is lost or doubled.
# Ids FIRST..N all expired; HELD (if any) held FOR SHARE by another session.
sub owner_code
{
	my ($name, $table, $setup, $first, $n, $held) = @_;
	$node->safe_psql('postgres', qq{
CREATE TABLE $table (id int PRIMARY KEY, payload text, revoked_at timestamptz);
INSERT INTO $table SELECT i, 'p' || i, '2001-01-01' FROM generate_series($first, $n) AS i;
$setup
});
	my $holder;
	if ($held)
	{
		$holder = $node->background_psql('postgres');
		$holder->query_safe('BEGIN');
		$holder->query_safe("SELECT id FROM $table WHERE id = $held FOR SHARE");
	}
	my ($st, $lg) = run_logged('', "public.$table");
	like($st, qr/^ok /, "$name: the run ends ok");
	unlike($lg, qr/\)\n\s*INSERT INTO retention_archive\.$table /, "$name: no copy-first batch");
	if ($holder)
	{
		$holder->query_safe('COMMIT');
		$holder->quit;
	}
	is($node->safe_psql('postgres', qq{
SELECT count(*) FILTER (WHERE NOT in_table AND NOT in_archive) || ' lost, '
    || count(*) FILTER (WHERE in_table AND in_archive) || ' in both'
  FROM (SELECT EXISTS (SELECT 1 FROM $table t WHERE t.id = i) AS in_table,
               EXISTS (SELECT 1 FROM retention_archive.$table a WHERE a.id = i) AS in_archive
          FROM generate_series($first, $n) AS i) s}),
		'0 lost, 0 in both', "$name: every row in exactly one place");
	return;
}

# A STABLE function of the owner's that is not.
owner_code('a filter that changes its mind', 'coin', q{
CREATE FUNCTION coin(i int) RETURNS boolean LANGUAGE plpgsql STABLE AS
  $$BEGIN RETURN random() < 0.5; END$$;
SELECT retention.add_policy('coin', 'revoked_at', mode => 'archive', filter => 'public.coin(id)',
                            batch_size => 2);
}, 1, 400);

# Built-in, truly STABLE functions only, but an archive default that changes
# the setting they read while rows are copied.
owner_code('an archive default that flips a setting', 'flip', q{
SELECT retention.add_policy('flip', 'revoked_at', mode => 'archive', batch_size => 2,
  filter => $f$CASE current_setting('app.phase', true) WHEN 'del' THEN id % 2 = 0
                ELSE id % 2 = 1 END$f$);
CREATE FUNCTION mark() RETURNS timestamptz LANGUAGE plpgsql AS
  $$BEGIN PERFORM set_config('app.phase', 'del', true); RETURN now(); END$$;
ALTER TABLE retention_archive.flip ALTER archived_at SET DEFAULT mark();
}, 2, 401);  # ranges of two keys start at an even one

# An archive default that deletes from the table and rolls it back (the
# statistics counter counts it all the same), while a row is held.
owner_code('an archive default that deletes and rolls back', 'bump', q{
INSERT INTO bump VALUES (100000, 'live', NULL);
SELECT retention.add_policy('bump', 'revoked_at', mode => 'archive', batch_size => 10);
CREATE FUNCTION bump() RETURNS timestamptz LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('app.bumped', true) IS DISTINCT FROM 'y' THEN
    PERFORM set_config('app.bumped', 'y', true);
    BEGIN
      DELETE FROM public.bump WHERE id = 100000;
      RAISE EXCEPTION 'undo';
    EXCEPTION WHEN raise_exception THEN NULL;
    END;
  END IF;
  RETURN now();
END$$;
ALTER TABLE retention_archive.bump ALTER archived_at SET DEFAULT bump();
}, 1, 100, 45);

# Code on the archive itself: a CHECK constraint, an expression index.
owner_code('a CHECK constraint on the archive', 'checked', q{
SELECT retention.add_policy('checked', 'revoked_at', mode => 'archive', batch_size => 10);
ALTER TABLE retention_archive.checked ADD CHECK (length(payload) > 0);
}, 1, 100);
owner_code('an expression index on the archive', 'exprindex', q{
SELECT retention.add_policy('exprindex', 'revoked_at', mode => 'archive', batch_size => 10);
CREATE INDEX ON retention_archive.exprindex (lower(payload));
}, 1, 100);

done_testing();
