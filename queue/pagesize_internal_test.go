package queue

import (
	"context"
	"path/filepath"
	"testing"
)

// TestNewDatabasesUseSmallPages: a database the daemon creates has pages
// of newPageSize bytes (fewer bytes to the log per changed row), in WAL
// mode; one created by an older dropsync keeps its page size and its rows.
func TestNewDatabasesUseSmallPages(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		from string
		want int
	}{{"new", newPageSize}, {"an older dropsync's", 4096}} {
		t.Run(tc.from, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			if tc.from != "new" {
				makeSchema(t, dir, 8) // SQLite's default page size, as before
			}
			q := startThreeTimes(t, dir) // the later starts find the database made
			var size, jobs int
			var mode string
			if err := q.db.QueryRowContext(ctx, `SELECT page_size, journal_mode, (SELECT COUNT(*) FROM jobs) FROM pragma_page_size(), pragma_journal_mode()`).Scan(&size, &mode, &jobs); err != nil {
				t.Fatal(err)
			}
			if size != tc.want || mode != "wal" {
				t.Errorf("page size %d in journal mode %s, want %d in wal", size, mode, tc.want)
			}
			if want := map[bool]int{true: 0, false: 1}[tc.from == "new"]; jobs != want {
				t.Errorf("%d jobs, want %d", jobs, want)
			}
		})
	}
}
