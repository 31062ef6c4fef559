package queue

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dropsync/dropsync/internal/fsid"
)

// A full disk (SQLite's own SQLITE_FULL, here from a page limit) names
// the file and says to free space.
func TestFullDiskErrorNamesFileAndNextStep(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state")
	q, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	var pages int
	q.db.QueryRow(`PRAGMA page_count`).Scan(&pages)
	if _, err := q.db.Exec(fmt.Sprintf(`PRAGMA max_page_count = %d`, pages)); err != nil {
		t.Fatal(err)
	}
	items := make([]Item, 0, 2000)
	for i := range 2000 {
		items = append(items, Item{Watch: "/w", Rel: fmt.Sprintf("scan-%04d-%s.pdf", i, strings.Repeat("x", 100)), Target: "t", FP: fsid.Fingerprint{Size: 1}})
	}
	_, err = q.Enqueue(ctx, items)
	if err == nil {
		t.Fatal("no error from a full database")
	}
	db := filepath.Join(dir, FileName)
	for _, want := range []string{"database or disk is full", db, "free space on the file system that holds " + dir} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q\nlacks %q", err, want)
		}
	}
}
