package queue

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
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
		qReadyLimited...)
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
