package queue

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The statements of a job's hot path (enqueue, lease, finish) build no
// temporary table. SQLite codes an IN list of more than two constants as
// one, built again by every statement that writes the column, so the
// CHECK on jobs.state is a chain of comparisons, and a database made by
// an older dropsync gets the same check at the daemon's start (which
// still refuses an unknown state) without a new schema version.
// RETURNING builds one for its rows, so the lease reads its row by id
// instead, and the finish learns what it did from the rows changed.
func TestStateCheckBuildsNoTemporaryTable(t *testing.T) {
	ctx := context.Background()
	for _, from := range []string{"new", "an older dropsync's"} {
		t.Run(from, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			if from != "new" {
				makeSchema(t, dir, 8) // the schema of dropsync until bf10e53
			}
			q := startThreeTimes(t, dir) // the later starts find it done
			var v int
			if err := q.db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil || v != 8 {
				t.Fatalf("user_version %d, %v; want 8, so that a previous dropsync still opens the database", v, err)
			}
			for s, want := range map[string]int{qLookup: 0, qInsert: 0, qLease: 0, qLeased: 0, qFinish: 0, qRequeue: 0} {
				if n := temporaryTables(t, q, s); n != want {
					t.Errorf("%d temporary tables for\n%s\nwant %d", n, s, want)
				}
			}
			if _, err := q.db.ExecContext(ctx, `INSERT INTO jobs (watch, rel, target, state, created_at, updated_at) VALUES ('/w', 'x', 't', 'bogus', 1, 1)`); err == nil || !strings.Contains(err.Error(), "CHECK") {
				t.Errorf("a job in state bogus: %v, want the CHECK's refusal", err)
			}
			var ok string
			if err := q.db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
				t.Fatalf("integrity_check: %q, %v", ok, err)
			}
		})
	}
}

// startThreeTimes opens the daemon's queue in dir, closes it, does so
// again, and returns it opened a third time (closed at the test's end):
// what a start changes in a database must hold when later starts find it
// done.
func startThreeTimes(t *testing.T, dir string) *Queue {
	t.Helper()
	var q *Queue
	for i := range 3 {
		var err error
		if q, err = Open(context.Background(), dir); err != nil {
			t.Fatal(err)
		}
		if i < 2 {
			q.Close()
		}
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// makeSchema creates the queue's database in dir as the first n migrations
// left it, with one pending job.
func makeSchema(t *testing.T, dir string, n int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	c, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, m := range migrations[:n] {
		if _, err := c.Exec(m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Exec(`INSERT INTO jobs (watch, rel, target, state, created_at, updated_at) VALUES ('/w', 'a', 't', 'pending', 1, 1);
		PRAGMA user_version = ` + strconv.Itoa(n)); err != nil {
		t.Fatal(err)
	}
}

// temporaryTables counts the temporary tables query's program opens.
func temporaryTables(t *testing.T, q *Queue, query string) int {
	t.Helper()
	n := 0
	explainRows(t, q, "EXPLAIN ", query, func(row []any) {
		if op, _ := row[1].(string); op == "OpenEphemeral" {
			n++
		}
	})
	return n
}

// Jobs have this dropsync's indexes (jobIndexes: one index by state,
// jobs_claim, and the failed jobs by path, jobs_path) whether the
// database is new or an older dropsync's (jobs_ready, a partial
// jobs_claim, every job by path): a daemon's start replaces them without
// a new schema version, keeps every row (integrity_check), and a second
// start changes nothing. The claim, whose text a previous dropsync
// shares, still walks jobs_claim in claim order without sorting.
func TestJobIndexesAreReshapedAtStart(t *testing.T) {
	ctx := context.Background()
	for _, from := range []string{"new", "an older dropsync's"} {
		t.Run(from, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			if from != "new" {
				makeSchema(t, dir, 8)
			}
			q, err := Open(ctx, dir)
			if err != nil {
				t.Fatal(err)
			}
			indexes := func() map[string]string {
				t.Helper()
				out := map[string]string{}
				rows, err := q.db.QueryContext(ctx, `SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'jobs' AND sql IS NOT NULL`)
				if err != nil {
					t.Fatal(err)
				}
				defer rows.Close()
				for rows.Next() {
					var name, def string
					if err := rows.Scan(&name, &def); err != nil {
						t.Fatal(err)
					}
					out[name] = def
				}
				return out
			}
			var version int
			if err := q.db.QueryRowContext(ctx, `PRAGMA schema_version`).Scan(&version); err != nil {
				t.Fatal(err)
			}
			q.Close()
			if q, err = Open(ctx, dir); err != nil {
				t.Fatal(err)
			}
			defer q.Close()
			var again, user int
			if err := q.db.QueryRowContext(ctx, `PRAGMA schema_version`).Scan(&again); err != nil || again != version {
				t.Errorf("schema_version %d after a second start, %d after the first (%v): the second changed the schema", again, version, err)
			}
			if err := q.db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&user); err != nil || user != len(migrations) {
				t.Errorf("user_version %d, %v; want %d, so that a previous dropsync still opens the database", user, err, len(migrations))
			}
			got := indexes()
			for name, want := range jobIndexes {
				if got[name] != want {
					t.Errorf("%s is %q, want %q", name, got[name], want)
				}
			}
			for _, name := range dropIndexes {
				if def, ok := got[name]; ok {
					t.Errorf("%s is still there: %s", name, def)
				}
			}
			if got["jobs_active"] == "" {
				t.Error("jobs_active is gone")
			}
			var ok string
			if err := q.db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
				t.Fatalf("integrity_check: %q, %v", ok, err)
			}
			for _, s := range append([]string{qReady, readyCounts[0][4]}, readyIDs...) {
				if plan := explain(t, q, s); !strings.Contains(plan, "SEARCH jobs USING COVERING INDEX jobs_claim (state=?)") || strings.Contains(plan, "TEMP B-TREE") {
					t.Errorf("the claim does not walk jobs_claim in order:\n%s", plan)
				}
			}
			if from != "new" {
				j, err := q.ClaimN(ctx, 1)
				if err != nil || len(j) != 1 || j[0].Rel != "a" {
					t.Fatalf("claimed %+v, %v; want the older dropsync's pending job", j, err)
				}
			}
		})
	}
}

// A start that cannot give jobs this dropsync's indexes opens the queue
// all the same and says why (the daemon logs it as a warning): it used to
// drop the error, and the speed it costs went unexplained.
func TestStartSaysWhatItCouldNotReshape(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state")
	q, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if w := q.StartWarnings(); len(w) != 0 {
		t.Fatalf("a new database gave start warnings: %v", w)
	}
	// A table where an index of jobs belongs: CREATE INDEX jobs_path fails.
	if _, err := q.db.ExecContext(ctx, `DROP INDEX jobs_path; CREATE TABLE jobs_path (x)`); err != nil {
		t.Fatal(err)
	}
	q.Close()
	if q, err = Open(ctx, dir); err != nil {
		t.Fatalf("the queue did not open: %v", err)
	}
	defer q.Close()
	w := q.StartWarnings()
	if len(w) != 1 || !strings.Contains(w[0].Error(), "jobs_path") || !strings.Contains(w[0].Error(), "indexes") {
		t.Fatalf("start warnings %v, want one naming the job indexes and jobs_path", w)
	}
	if err := q.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}
