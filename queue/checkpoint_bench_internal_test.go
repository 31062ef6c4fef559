package queue

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkCommitCheckpoints is the wait the checkpointer takes off the
// hot path: transactions that each update 10 rows on 10 scattered pages of
// a 100,000-row table, with SQLite checkpointing inside the commits that
// pass 1,000 pages (its default, and the daemon's before) against the
// checkpointer on its own connection (checkpoint.go). Both run in the same
// benchmark; it reports the wall time per transaction of each and their
// ratio.
func BenchmarkCommitCheckpoints(b *testing.B) {
	const txs, rows, perTx = 3000, 100_000, 10
	wall := map[string]time.Duration{}
	for i := 0; i < b.N; i++ {
		for _, mode := range []string{"in-commits", "checkpointer"} {
			path := filepath.Join(b.TempDir(), "bench.db")
			dsn := "file:" + path + "?_journal_mode=WAL&_busy_timeout=" + busyTimeout + "&_synchronous=NORMAL"
			db, err := sql.Open("sqlite3", dsn)
			if err != nil {
				b.Fatal(err)
			}
			db.SetMaxOpenConns(1)
			ctx := context.Background()
			if _, err := db.ExecContext(ctx, `CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, pad TEXT)`); err != nil {
				b.Fatal(err)
			}
			pad := strings.Repeat("x", 200)
			if _, err := db.ExecContext(ctx, `WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i + 1 < ?)
				INSERT INTO t SELECT i, 0, ? FROM s`, rows, pad); err != nil {
				b.Fatal(err)
			}
			var ck *checkpointer
			if mode == "checkpointer" {
				if _, err := db.ExecContext(ctx, noAutoCheckpoint); err != nil {
					b.Fatal(err)
				}
				if ck, err = startCheckpointer(dsn, path); err != nil {
					b.Fatal(err)
				}
			}
			start := time.Now()
			for k := 0; k < txs; k++ {
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					b.Fatal(err)
				}
				for p := 0; p < perTx; p++ {
					if _, err := tx.ExecContext(ctx, `UPDATE t SET n = n + 1 WHERE id = ?`, (k*7919+p*10007)%rows); err != nil {
						b.Fatal(err)
					}
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
				ck.committed()
			}
			wall[mode] += time.Since(start)
			ck.close()
			db.Close()
		}
	}
	n := float64(b.N * txs)
	in, off := float64(wall["in-commits"].Microseconds())/n, float64(wall["checkpointer"].Microseconds())/n
	b.ReportMetric(in, "in-commits-µs/tx")
	b.ReportMetric(off, "checkpointer-µs/tx")
	b.ReportMetric(in/off, "ratio")
}
