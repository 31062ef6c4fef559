package queue

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/dropsync/dropsync/internal/fsid"
	"github.com/dropsync/dropsync/targets"
)

// Every lookup on the hot path (enqueue, claim, complete) and on the delete
// path (the remote-id check, the expansion of a deleted folder) and of the
// retention pass uses an index: EXPLAIN QUERY PLAN shows no full scan of
// jobs or file_state.
func TestLookupsUseIndexes(t *testing.T) {
	ctx := context.Background()
	q, err := Open(ctx, filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	queries := map[string]string{"remote shared": qRemoteShared, "expand deleted folder": qExpandDir}
	hot := append([]string{qLookup, qCoalesce, qDropFailed, qInsert, qReady, qLease, qLeased, qRecord, qDropSession, qFinish, qRequeue, qFileState, qProgress, qNameOwner, qClaimName, qNewJobAttempts},
		append(slices.Clone(readyIDs), readyCounts[0][4], readyCounts[2][4], readyQuery(100, 200, true))...)
	for i, s := range hot {
		queries["hot statement "+string(rune('A'+i))] = s
	}
	for name, s := range retentionStatements {
		queries["retention: "+name] = s
	}
	for name, s := range queries {
		plan := explain(t, q, s)
		t.Logf("%s:\n%s", name, plan)
		for _, line := range strings.Split(plan, "\n") {
			if (strings.Contains(line, "SCAN jobs") || strings.Contains(line, "SCAN file_state") || strings.Contains(line, "SCAN j ")) && !strings.Contains(line, "COVERING INDEX") {
				t.Errorf("%s scans a whole table:\n%s\n%s", name, s, plan)
			}
		}
	}
	if plan := explain(t, q, qRemoteShared); !strings.Contains(plan, "USING INDEX file_state_remote (target=? AND remote_id=?)") {
		t.Errorf("remote shared does not use the remote-id index:\n%s", plan)
	}
	if plan := explain(t, q, qExpandDir); !strings.Contains(plan, "(watch=? AND rel>? AND rel<?)") {
		t.Errorf("the folder-delete expansion does not seek its prefix:\n%s", plan)
	}
}

func explain(t *testing.T, q *Queue, query string) string {
	t.Helper()
	var out []string
	explainRows(t, q, "EXPLAIN QUERY PLAN ", query, func(row []any) {
		detail, _ := row[3].(string)
		out = append(out, detail)
	})
	return strings.Join(out, "\n")
}

// explainRows runs prefix+query (an EXPLAIN) with an argument for every
// placeholder and calls each with every row's columns.
func explainRows(t *testing.T, q *Queue, prefix, query string, each func(row []any)) {
	t.Helper()
	n := strings.Count(query, "?")
	for i := 19; i >= 1; i-- {
		if strings.Contains(query, "?"+strconv.Itoa(i)) {
			n = i
			break
		}
	}
	args := make([]any, n)
	for i := range args {
		args[i] = "x"
	}
	rows, err := q.db.QueryContext(context.Background(), prefix+query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		row := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range row {
			ptrs[i] = &row[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		each(row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

// recoverLeases is the statement with which Open returns leases to
// pending (open.go); it runs before a test can log the statements.
const recoverLeases = `UPDATE jobs SET state = 'pending', bytes_done = 0 WHERE state = 'leased'`

// Every query of jobs a queue method runs reads the jobs it is about
// through an index, never every row of the table: those of status and
// metrics (Counts, Jobs of a state, StillBeingWritten,
// OldestPending, NextReady, PendingByTarget, ActiveInFolder), the probe's
// claim, RetryFailed, Forget, the retention pass, and Open's recovery of
// leases, besides the hot path's. Only a covering index may be read whole
// (Counts counts every job by state). The statements checked are those the
// methods prepared (logStatements), so a query is checked as it is.
// Listing every job (Jobs without a state) reads them all by definition
// and is not run.
func TestJobQueriesUseIndexes(t *testing.T) {
	ctx := context.Background()
	q, err := Open(ctx, filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	log := logStatements(t, q)
	var items []Item
	for i := range 6 {
		items = append(items, Item{Watch: "/w", Rel: "d/f" + strconv.Itoa(i), Target: "t", FP: fsid.Fingerprint{Size: int64(i + 1)}})
	}
	if _, err := q.Enqueue(ctx, items); err != nil {
		t.Fatal(err)
	}
	js, err := q.ClaimN(ctx, 3)
	if err != nil || len(js) != 3 {
		t.Fatalf("claimed %d, %v", len(js), err)
	}
	if _, err := q.Complete(ctx, js[0], Outcome{Delivered: &FileState{FP: js[0].FP, SHA256: "x"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Fail(ctx, js[1], "HTTP 400"); err != nil {
		t.Fatal(err)
	}
	if err := q.Retry(ctx, js[2], time.Now(), StillWriting, true); err != nil {
		t.Fatal(err)
	}
	for _, state := range []string{Pending, Leased, Done, Failed} {
		if _, err := q.Jobs(ctx, state, "", 10); err != nil {
			t.Fatal(err)
		}
	}
	calls := []func() error{
		func() error { _, err := q.Jobs(ctx, Failed, "d/f1", 10); return err },
		func() error { _, err := q.Counts(ctx); return err },
		func() error { _, err := q.StillBeingWritten(ctx, 10); return err },
		func() error { _, _, err := q.OldestPending(ctx); return err },
		func() error { _, _, err := q.NextReady(ctx); return err },
		func() error { _, err := q.PendingByTarget(ctx); return err },
		func() error { _, err := q.ActiveInFolder(ctx, "/w", "d"); return err },
		func() error { _, err := q.ClaimTarget(ctx, "t"); return err },
		func() error { _, err := q.RetryFailed(ctx, js[1].ID); return err },
		func() error { _, err := q.RetryFailed(ctx); return err },
		func() error { _, err := q.Forget(ctx, js[0].ID); return err },
		func() error { return q.ClearAttempts(ctx) },
		func() error {
			_, err := q.Prune(ctx, Retention{Done: time.Hour, Failed: time.Hour, ForgottenState: time.Hour, Forgettable: func(StateRef) bool { return true }})
			return err
		},
	}
	for _, call := range calls {
		if err := call(); err != nil {
			t.Fatal(err)
		}
	}
	jobsIn := regexp.MustCompile(`(?i)\bjobs\b(\s+(?:AS\s+)?(\w+))?`)
	keywords := map[string]bool{"where": true, "set": true, "indexed": true, "group": true, "order": true, "left": true, "join": true, "limit": true}
	checked := 0
	for _, s := range append(log.seen(), recoverLeases) {
		names := map[string]bool{}
		for _, m := range jobsIn.FindAllStringSubmatch(s, -1) {
			names["jobs"] = true
			if m[2] != "" && !keywords[strings.ToLower(m[2])] {
				names[m[2]] = true
			}
		}
		if len(names) == 0 || strings.HasPrefix(s, "EXPLAIN") {
			continue
		}
		checked++
		plan := explain(t, q, s)
		t.Logf("%s\n%s", s, plan)
		for _, line := range strings.Split(plan, "\n") {
			f := strings.Fields(line)
			if len(f) >= 2 && f[0] == "SCAN" && names[f[1]] && !strings.Contains(line, "COVERING INDEX") {
				t.Errorf("reads every job:\n%s\n%s", s, plan)
			}
		}
	}
	if checked < 25 {
		t.Fatalf("checked %d queries of jobs; the methods above run more", checked)
	}
}

// The hot path's statements are compiled once, not at every run. SQLite
// recompiles a statement whose plan it let depend on a bound value (an
// equality with a parameter that no index of a single table takes, such
// as one on the table a join reaches second) each time its parameters are
// bound, and the driver binds them anew at every run. An authorizer, which
// SQLite consults whenever it compiles, counts the compilations of a
// burst's statements once each has run.
func TestHotStatementsAreNotCompiledAgain(t *testing.T) {
	ctx := context.Background()
	q, err := Open(ctx, filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	var mu sync.Mutex
	compiled := map[string]int{}
	counting := false
	sc, err := q.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	err = sc.Raw(func(dc any) error {
		dc.(*sqlite3.SQLiteConn).RegisterAuthorizer(func(op int, a, b, c string) int {
			mu.Lock()
			defer mu.Unlock()
			if counting {
				compiled[fmt.Sprintf("%d %s %s %s", op, a, b, c)]++
			}
			return sqlite3.SQLITE_OK
		})
		return nil
	})
	sc.Close()
	if err != nil {
		t.Fatal(err)
	}
	burst := func(from, n int) {
		t.Helper()
		var items []Item
		for i := from; i < from+n; i++ {
			items = append(items, Item{Watch: "/w", Rel: fmt.Sprintf("d%d/f%03d", i%3, i), Target: "t", FP: fsid.Fingerprint{Size: int64(i + 1), ModTime: int64(i), Inode: uint64(i + 1)}})
		}
		if _, err := q.Enqueue(ctx, items); err != nil {
			t.Fatal(err)
		}
		j, err := q.Claim(ctx)
		for k := 0; err == nil && j != nil; k++ {
			var next []*Job
			o := Outcome{Delivered: &FileState{FP: j.FP, SHA256: "x", Remote: targets.Remote{ID: "id-" + j.Rel}}, Names: []string{j.Rel}}
			// Claims for a free slot and claims ahead (the count and
			// the owner read in the claim's transaction) take turns.
			w := Want{Now: 1}
			if k%2 == 1 {
				w = Want{Ahead: 1, NameKey: func(j *Job) (string, string, bool) { return j.Target, j.Rel, true }}
			}
			_, next, err = q.CompleteNext(ctx, j, o, w)
			j = nil
			if len(next) > 0 {
				j = next[0]
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := q.Enqueue(ctx, items); err != nil { // unchanged: dropped
			t.Fatal(err)
		}
	}
	burst(0, 3) // every statement compiled once
	mu.Lock()
	counting = true
	mu.Unlock()
	burst(3, 30)
	mu.Lock()
	defer mu.Unlock()
	if len(compiled) > 0 {
		t.Errorf("statements compiled again while a burst ran (authorizer calls: action table column):\n%v", compiled)
	}
}
