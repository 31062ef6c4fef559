package queue

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dropsync/dropsync/internal/fsid"
)

// BenchmarkMillionFileStates fills file_state with 1,000,000 delivered
// files (1,000 folders of 1,000) and measures, against baselines taken in
// the same run:
//   - the delete path: the remote-id check (RemoteShared) with its index,
//     and with the index dropped (the plan before it existed); the
//     expansion of a deleted folder of 1,000 files by the prefix seek, and
//     by the substr() filter it replaced;
//   - a start-up scan of 100,000 unchanged files (the queue's side: every
//     settled file is offered to Enqueue in batches of 500, and dropped as
//     delivered), at 1,000,000 rows against the same scan at 100,000 rows;
//   - one retention sweep over all rows.
//
// Run it with: go test -run '^$' -bench MillionFileStates -benchtime 1x ./queue/
func BenchmarkMillionFileStates(b *testing.B) {
	ctx := context.Background()
	const folders, perFolder = 1000, 1000
	small := fill(b, 100, perFolder) // the baseline database: the scanned files only
	big := fill(b, folders, perFolder)
	b.ResetTimer()
	for range b.N {
		// The delete path: the remote-id check.
		per := func(q *Queue, checks int) time.Duration {
			start := time.Now()
			for i := range checks {
				if _, err := q.RemoteShared(ctx, "t", fmt.Sprintf("r%07d", i*331%(folders*perFolder)), "/w", "x"); err != nil {
					b.Fatal(err)
				}
			}
			return time.Since(start) / time.Duration(checks)
		}
		indexed := per(big, 2000)
		if _, err := big.db.Exec(`DROP INDEX file_state_remote`); err != nil {
			b.Fatal(err)
		}
		scanned := per(big, 10) // each is a scan of the whole table
		if _, err := big.db.Exec(`CREATE INDEX file_state_remote ON file_state (target, remote_id)`); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(indexed.Microseconds()), "remote-check-µs")
		b.ReportMetric(float64(scanned.Microseconds()), "remote-check-noindex-µs")
		b.ReportMetric(float64(scanned)/float64(indexed), "remote-check-speedup-x")

		// The delete path: a deleted folder of 1,000 files.
		const oldExpand = `SELECT rel FROM file_state WHERE watch = ?1 AND target = ?2 AND moved_away = 0 AND substr(rel, 1, length(?3)) = ?3`
		expand := func(query string, args ...any) time.Duration {
			start := time.Now()
			rows, err := big.db.QueryContext(ctx, query, args...)
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for rows.Next() {
				n++
			}
			rows.Close()
			if n != perFolder {
				b.Fatalf("expansion found %d files, want %d", n, perFolder)
			}
			return time.Since(start)
		}
		seek := expand(qExpandDir, "/w", "t", "d0500/", "d05000")
		filter := expand(oldExpand, "/w", "t", "d0500/")
		b.ReportMetric(float64(seek.Microseconds())/1000, "folder-delete-ms")
		b.ReportMetric(float64(filter.Microseconds())/1000, "folder-delete-substr-ms")
		b.ReportMetric(float64(filter)/float64(seek), "folder-delete-speedup-x")
		start := time.Now()
		if _, err := big.Enqueue(ctx, []Item{{Watch: "/w", Rel: "d0501", Target: "t", Gone: true, Dir: true}}); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "folder-delete-enqueue-ms")

		// A start-up scan of 100,000 unchanged files.
		scan := func(q *Queue) time.Duration {
			start := time.Now()
			batch := make([]Item, 0, 500)
			for f := range 100 {
				for i := range perFolder {
					batch = append(batch, Item{Watch: "/w", Rel: rel(f, i), Target: "t", FP: fp(f, i)})
					if len(batch) == cap(batch) {
						if n, err := q.Enqueue(ctx, batch); err != nil || n != 0 {
							b.Fatalf("scan: %d queued, %v", n, err)
						}
						batch = batch[:0]
					}
				}
			}
			return time.Since(start)
		}
		base, full := scan(small), scan(big)
		b.ReportMetric(base.Seconds(), "scan-100k-at-100k-rows-s")
		b.ReportMetric(full.Seconds(), "scan-100k-at-1M-rows-s")
		b.ReportMetric(full.Seconds()/base.Seconds(), "scan-1M-vs-100k-x")

		// One retention sweep: every record is asked about (here with an
		// lstat of a missing path, the daemon's test) and none is gone.
		start = time.Now()
		if err := big.sweep(ctx, func(s StateRef) bool {
			os.Lstat(filepath.Join("/nonexistent-watch", s.Rel))
			return false
		}); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "sweep-1M-s")
	}
}

func rel(f, i int) string { return fmt.Sprintf("d%04d/scan-%06d.pdf", f, i) }

func fp(f, i int) fsid.Fingerprint {
	return fsid.Fingerprint{Size: int64(1000 + i), ModTime: int64(f*1000 + i), Inode: uint64(f*1000 + i + 1)}
}

// fill opens a fresh queue holding folders×perFolder delivered files.
func fill(b *testing.B, folders, perFolder int) *Queue {
	b.Helper()
	ctx := context.Background()
	q, err := Open(ctx, filepath.Join(b.TempDir(), "state"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { q.Close() })
	start := time.Now()
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	st, err := tx.PrepareContext(ctx, `INSERT INTO file_state (watch, rel, target, size, mtime, inode, sha256, remote_id, delivered_at) VALUES ('/w', ?, 't', ?, ?, ?, 'x', ?, 1)`)
	if err != nil {
		b.Fatal(err)
	}
	for f := range folders {
		for i := range perFolder {
			p := fp(f, i)
			if _, err := st.ExecContext(ctx, rel(f, i), p.Size, p.ModTime, int64(p.Inode), fmt.Sprintf("r%07d", f*perFolder+i)); err != nil {
				b.Fatal(err)
			}
		}
	}
	st.Close()
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	b.Logf("filled %d rows in %s", folders*perFolder, time.Since(start).Round(time.Millisecond))
	return q
}
