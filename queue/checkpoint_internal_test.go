package queue

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A writer whose commit finds the log past ckptHardBytes waits for the
// checkpoint lock; Sync (before an after_upload action) holds that lock
// and waits for the daemon's connection. The writer used to wait while it
// still held the connection: both hung, and every worker with them.
func TestCatchingUpWriterAndSyncDoNotDeadlock(t *testing.T) {
	ctx := context.Background()
	q := openDaemonQueue(t)
	if err := q.hotTx(ctx, touch); err != nil {
		t.Fatal(err)
	}
	// The log has grown past the writers' bound (a burst outran the
	// checkpointer), and the next commit is one that looks at it.
	if err := os.Truncate(q.path+"-wal", ckptHardBytes+4096); err != nil {
		t.Fatal(err)
	}
	q.ckpt.commits.Store(ckptCommits - 1)
	release, writer := holdWriter(q, true)
	syncer := make(chan error, 1)
	go func() { syncer <- q.Sync(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for q.ckpt.mu.TryLock() { // until Sync holds the checkpoint lock
		q.ckpt.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatal("Sync never took the checkpoint lock")
		}
		time.Sleep(time.Millisecond)
	}
	release()
	for _, c := range []struct {
		name string
		ch   <-chan error
	}{{"the writer", writer}, {"Sync", syncer}} {
		select {
		case err := <-c.ch:
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s hangs: the writer holds the connection while it waits for the checkpoint lock, which Sync holds while it waits for the connection", c.name)
		}
	}
}

// When the checkpointer's own connection keeps failing, the daemon's
// commits checkpoint the log again (SQLite's default), and hand it back
// once a checkpoint works: the log never grows unchecked.
func TestCommitsCheckpointWhileTheCheckpointerFails(t *testing.T) {
	ctx := context.Background()
	q := openDaemonQueue(t)
	var err error
	q.ckpt.db.Close() // its connection is gone for good
	deadline := time.Now().Add(10 * time.Second)
	for !q.ckpt.failing() {
		if err := q.hotTx(ctx, touch); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the checkpointer failed %d times in a row, not %d", q.ckpt.failed.Load(), ckptFailures)
		}
		time.Sleep(time.Millisecond)
	}
	if err := q.hotTx(ctx, touch); err != nil {
		t.Fatal(err)
	}
	if n, err := q.AutoCheckpoint(ctx); err != nil || n != autoCheckpoint {
		t.Fatalf("with the checkpointer failing, the daemon's connection checkpoints every %d pages (%v); want %d", n, err, autoCheckpoint)
	}
	// The checkpointer works again.
	q.ckpt.mu.Lock()
	q.ckpt.db, err = sql.Open("sqlite3", "file:"+q.path+"?_busy_timeout="+busyTimeout)
	q.ckpt.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	defer q.ckpt.db.Close()
	for q.ckpt.failing() {
		if err := q.hotTx(ctx, touch); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the checkpointer did not recover")
		}
		time.Sleep(time.Millisecond)
	}
	if err := q.hotTx(ctx, touch); err != nil {
		t.Fatal(err)
	}
	if n, err := q.AutoCheckpoint(ctx); err != nil || n != 0 {
		t.Fatalf("with the checkpointer working again, the daemon's connection checkpoints every %d pages (%v); want never", n, err)
	}
}

// A RESTART that meets the daemon's own writer in a transaction waits for
// it to commit, instead of polling for the write lock until the busy
// timeout and giving up: it used to, under a steady stream of commits,
// and then said another program held the log and did not try again for
// a minute, while the log grew.
func TestRestartWaitsForTheDaemonsOwnWriter(t *testing.T) {
	q := openDaemonQueue(t)
	release, writer := holdWriter(q, true)
	restartWaitsFor(t, q, release, writer)
}

// The same holds for the daemon's transactions outside the hot path
// (inTx: a retry, a pause, a batch of the retention prune, a chunk's
// session record): a RESTART that meets one waits for it. It used to poll
// for the write lock behind them, and behind a prune's run of batches gave
// up, said another program held the log and did not try again for a
// minute while the deletions grew it.
func TestRestartWaitsForTheDaemonsOtherTransactions(t *testing.T) {
	q := openDaemonQueue(t)
	release, writer := holdWriter(q, false)
	restartWaitsFor(t, q, release, writer)
}

// openDaemonQueue opens a daemon's queue (with its checkpointer) in a
// temporary state directory.
func openDaemonQueue(t *testing.T) *Queue {
	t.Helper()
	q, err := Open(context.Background(), filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// touch is a transaction's smallest write.
func touch(c *conn) error { _, err := c.exec(`UPDATE jobs SET dirty = 0 WHERE id = 0`); return err }

// holdWriter starts a transaction of the daemon's connection, on the hot
// path (hotTx) or beside it (inTx), and returns once it has written;
// release lets it commit, and its result arrives on done.
func holdWriter(q *Queue, hot bool) (release func(), done <-chan error) {
	ctx := context.Background()
	inTx, rel := make(chan struct{}), make(chan struct{})
	writer := make(chan error, 1)
	go func() {
		if hot {
			writer <- q.hotTx(ctx, func(c *conn) error {
				err := touch(c)
				close(inTx)
				<-rel
				return err
			})
			return
		}
		writer <- q.inTx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE jobs SET dirty = 0 WHERE id = 0`)
			close(inTx)
			<-rel
			return err
		})
	}()
	<-inTx
	return func() { close(rel) }, writer
}

// restartWaitsFor runs a RESTART while a writer of the daemon is in its
// transaction, and checks that it waits for the commit (longer than the
// busy timeout) and then succeeds.
func restartWaitsFor(t *testing.T, q *Queue, release func(), writer <-chan error) {
	t.Helper()
	restarted := make(chan error, 1)
	go func() {
		q.ckpt.mu.Lock()
		defer q.ckpt.mu.Unlock()
		_, err := q.ckpt.run1("RESTART")
		restarted <- err
	}()
	// The writer stays in its transaction longer than the busy timeout.
	timeout, _ := time.ParseDuration(busyTimeout + "ms")
	select {
	case err := <-restarted:
		t.Fatalf("the RESTART ended (%v) while the writer was in its transaction", err)
	case <-time.After(timeout + 500*time.Millisecond):
	}
	release()
	if err := <-writer; err != nil {
		t.Fatal(err)
	}
	if err := <-restarted; err != nil {
		t.Fatal(err)
	}
	if !q.ckpt.held.IsZero() {
		t.Fatal("the RESTART found the log held by a reader; only the daemon's own writer was in the way")
	}
}

// A RESTART keeps the log's file, and the commit that starts the log
// again cuts it back to ckptRestartBytes: the next commits overwrite pages
// the kernel holds instead of growing a file emptied by a TRUNCATE, and
// the file stays bounded instead of at its largest size.
func TestRestartKeepsTheLogFileAtItsLimit(t *testing.T) {
	ctx := context.Background()
	q := openDaemonQueue(t)
	grow := func(c *conn) error {
		if _, err := c.exec(`CREATE TABLE IF NOT EXISTS pad (b BLOB)`); err != nil {
			return err
		}
		_, err := c.exec(`INSERT INTO pad SELECT zeroblob(1 << 20) FROM (WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 40) SELECT i FROM s)`)
		return err
	}
	if err := q.hotTx(ctx, grow); err != nil {
		t.Fatal(err)
	}
	if size := q.ckpt.walBytes(); size <= ckptRestartBytes {
		t.Fatalf("the log's file is %d bytes after 40 MiB of writes", size)
	}
	q.ckpt.mu.Lock()
	err := q.ckpt.checkpoint() // PASSIVE, then RESTART: the log holds more than ckptRestartPages
	q.ckpt.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	small := func(c *conn) error { _, err := c.exec(`INSERT INTO pad VALUES (x'00')`); return err }
	if err := q.hotTx(ctx, small); err != nil {
		t.Fatal(err)
	}
	if size := q.ckpt.walBytes(); size != ckptRestartBytes {
		t.Fatalf("after the restart and a commit the log's file is %d bytes, want %d (kept, cut back to the limit)", size, ckptRestartBytes)
	}
}
