package queue_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/dropsync/dropsync/queue"
)

func userVersion(t *testing.T, db string) int {
	t.Helper()
	c, err := sql.Open("sqlite3", "file:"+db+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var v int
	if err := c.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func setUserVersion(t *testing.T, db string, v int) {
	t.Helper()
	c, err := sql.Open("sqlite3", "file:"+db)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Exec(`PRAGMA user_version = ` + strconv.Itoa(v)); err != nil {
		t.Fatal(err)
	}
}

// OpenReadOnly reads, never writes: no migration, no lease recovery, and a
// schema other than the one it understands is refused in one line.
func TestReadOnlyOpenNeverWritesOrMigrates(t *testing.T) {
	ctx := context.Background()
	q, dir := open(t)
	q.Enqueue(ctx, []queue.Item{item("a.txt", 1)})
	claim(t, q)
	q.Close()
	db := filepath.Join(dir, queue.FileName)
	current := userVersion(t, db)

	r, err := queue.OpenReadOnly(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := r.Counts(ctx); err != nil || c[queue.Leased] != 1 {
		t.Fatalf("counts %v %v (a reader must not recover leases)", c, err)
	}
	if _, err := r.Enqueue(ctx, []queue.Item{item("b.txt", 1)}); err == nil || !strings.Contains(err.Error(), "readonly") {
		t.Fatalf("a write through the read-only queue: %v", err)
	}
	r.Close()

	for _, tc := range []struct {
		version int
		want    string
	}{
		{current - 1, "is older than this dropsync understands"},
		{current + 1, "is newer than this dropsync understands"},
	} {
		setUserVersion(t, db, tc.version)
		for name, open := range map[string]func(context.Context, string) (*queue.Queue, error){"OpenReadOnly": queue.OpenReadOnly, "OpenExisting": queue.OpenExisting} {
			_, err := open(ctx, dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), db) || strings.Contains(err.Error(), "\n") {
				t.Errorf("%s of schema %d: %v; want one line with %q", name, tc.version, err, tc.want)
			}
			if v := userVersion(t, db); v != tc.version {
				t.Fatalf("%s changed the schema from %d to %d", name, tc.version, v)
			}
		}
	}
	os.Remove(db)
	if _, err := queue.OpenReadOnly(ctx, dir); err == nil || !strings.Contains(err.Error(), "no state database at") {
		t.Fatalf("missing database: %v", err)
	}
}
