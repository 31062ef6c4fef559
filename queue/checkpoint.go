package queue

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Checkpoints.
//
// In WAL mode a commit appends pages to the write-ahead log, and a
// checkpoint copies them back into the database file and fsyncs both. By
// default SQLite checkpoints inside the commit that takes the log past
// 1,000 pages: the daemon's one connection then waits for the fsyncs of
// scattered writes (10–15 ms here), and every worker waits behind it. The
// daemon's connection therefore never checkpoints (wal_autocheckpoint = 0);
// a checkpointer with a connection of its own does, after every
// ckptCommits commits, in PASSIVE mode, which copies what is committed
// without holding up writers. A checkpoint copies each page once however
// often the log holds it, and a burst commits the same few pages (the
// ends of the tables and indexes that grow) in every transaction: the
// rarer the checkpoints, the fewer copies and fsyncs per commit, up to
// the log's bound below.
//
// Commits go on into the log meanwhile, so under a steady stream of
// writes the log is never found fully copied at the start of a
// transaction (when SQLite would start it again from its beginning) and
// would only grow: when a checkpoint finds ckptRestartPages or more in it,
// a RESTART follows at once, which waits for the writer, copies the rest,
// and makes the next commit start the log again from its beginning. The
// file is kept (overwriting pages the kernel holds costs less than
// growing a file block by block) and cut back to ckptRestartBytes by that
// commit (journal_size_limit), so it stays about that size. Should writers
// still outrun the checkpointer, the log is bounded all the same: every
// ckptCommits commits the writer looks at the log's size, and past
// ckptHardBytes it waits for a TRUNCATE itself. A RESTART or TRUNCATE that
// cannot finish (another process reads an old snapshot: a backup, the
// sqlite3 shell) is not tried again for ckptBusyPause, and said once, so
// writers do not stall a busy timeout every few commits. Both need the
// write lock, which the daemon's writer takes and releases a thousand
// times a second: SQLite's busy handler, which polls, may never find it
// free. They take the checkpointer's gate instead, which the daemon's
// transactions hold (lock order: connection, then gate; mu, then gate;
// nobody waits for the connection while holding the gate). Should the
// checkpointer fail ckptFailures times in a row (its connection broken),
// the daemon's connection checkpoints in its commits again, as SQLite does
// by default, until a checkpoint succeeds: the log never grows unchecked.
// One checkpoint runs at a time (Sync takes the same lock). An idle daemon
// commits nothing and so checkpoints nothing; the last connection to close
// checkpoints what is left and removes the log.
const (
	ckptCommits      = 256
	ckptRestartPages = 8192     // 16 MiB of newPageSize pages (32 MiB in a database of 4 KiB pages)
	ckptRestartBytes = 32 << 20 // the log's file after a restart (journal_size_limit)
	ckptHardBytes    = 64 << 20 // the log's size at which writers wait
	ckptBusyPause    = time.Minute
	ckptFailures     = 3
	autoCheckpoint   = 1000 // SQLite's default, for the daemon's connection while the checkpointer fails
)

// checkpointer runs checkpoints on its own connection.
type checkpointer struct {
	db      *sql.DB
	mu      sync.Mutex // one checkpoint at a time (with Sync)
	gate    sync.Mutex // held by the daemon's transactions and by RESTART and TRUNCATE
	wal     string     // the write-ahead log's file
	commits atomic.Int64
	failed  atomic.Int32 // checkpoints failed in a row
	kick    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	log     *slog.Logger
	held    time.Time // under mu: when a TRUNCATE last found the log held by a reader
}

// startCheckpointer opens the checkpointer's connection to the database at
// dsn, whose file is path, and starts it.
func startCheckpointer(dsn, path string) (*checkpointer, error) {
	db, err := openPool(dsn, 1)
	if err != nil {
		return nil, err
	}
	c := &checkpointer{db: db, wal: path + "-wal", kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}), log: slog.Default()}
	go c.run()
	return c, nil
}

// committed counts a commit of the daemon's connection; every ckptCommits
// commits it wakes the checkpointer, or, with the log past ckptHardBytes,
// waits for a TRUNCATE checkpoint.
func (c *checkpointer) committed() {
	if c == nil || c.commits.Add(1)%ckptCommits != 0 {
		return
	}
	if c.walBytes() >= ckptHardBytes {
		c.catchUp()
		return
	}
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// walBytes is the size of the write-ahead log's file: at least what it
// holds (SQLite starts a checkpointed log again from its beginning without
// shrinking the file; TRUNCATE empties it).
func (c *checkpointer) walBytes() int64 {
	fi, err := os.Stat(c.wal)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func (c *checkpointer) run() {
	defer close(c.done)
	for {
		select {
		case <-c.stop:
			return
		case <-c.kick:
		}
		c.mu.Lock()
		err := c.checkpoint()
		c.mu.Unlock()
		c.note(err)
	}
}

// checkpoint runs a PASSIVE checkpoint, and a RESTART when the log has
// grown to ckptRestartPages; under mu.
func (c *checkpointer) checkpoint() error {
	pages, err := c.run1("PASSIVE")
	if err == nil && pages >= ckptRestartPages && time.Since(c.held) >= ckptBusyPause {
		_, err = c.run1("RESTART")
	}
	return err
}

// catchUp runs a TRUNCATE checkpoint for a writer that found the log past
// ckptHardBytes.
func (c *checkpointer) catchUp() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.walBytes() < ckptHardBytes || time.Since(c.held) < ckptBusyPause {
		return // emptied meanwhile, or a reader holds it
	}
	_, err := c.run1("TRUNCATE")
	c.note(err)
}

// note counts a checkpoint's failure or success, and says when the
// daemon's connection takes checkpoints over and gives them back.
func (c *checkpointer) note(err error) {
	if err == nil {
		if c.failed.Swap(0) >= ckptFailures {
			c.log.Info("queue: checkpoints of the write-ahead log work again on their own connection")
		}
		return
	}
	if c.failed.Add(1) == ckptFailures {
		c.log.Warn("queue: checkpoints of the write-ahead log keep failing on their own connection; the daemon's commits checkpoint it until they work again", "err", err)
		return
	}
	c.log.Warn("queue: checkpoint of the write-ahead log; the next one tries again", "err", err)
}

// enter and leave bracket a transaction of the daemon's connection, which
// holds it; a nil checkpointer (not the daemon's queue) does nothing.
func (c *checkpointer) enter() {
	if c != nil {
		c.gate.Lock()
	}
}

func (c *checkpointer) leave() {
	if c != nil {
		c.gate.Unlock()
	}
}

// failing reports whether the checkpointer has failed ckptFailures times
// in a row.
func (c *checkpointer) failing() bool { return c != nil && c.failed.Load() >= ckptFailures }

// run1 runs one checkpoint in mode, under mu, and returns the log's size
// in pages. A RESTART or TRUNCATE holds the gate, so that the daemon's
// writer waits for it rather than it for the writer.
func (c *checkpointer) run1(mode string) (int, error) {
	if mode != "PASSIVE" {
		c.gate.Lock()
		defer c.gate.Unlock()
	}
	var busy, pages, copied int
	if err := c.db.QueryRowContext(context.Background(), `PRAGMA wal_checkpoint(`+mode+`)`).Scan(&busy, &pages, &copied); err != nil {
		return 0, fmt.Errorf("%s: %w", mode, err)
	}
	if mode != "PASSIVE" && busy != 0 {
		if c.held.IsZero() {
			c.log.Warn("queue: the write-ahead log cannot be emptied while another program reads an old state of the database; it grows until that program ends its read",
				"log", c.wal, "pages", pages)
		}
		c.held = time.Now()
	} else if mode != "PASSIVE" {
		c.held = time.Time{}
	}
	return pages, nil
}

// close stops the checkpointer and closes its connection; it may be
// called more than once.
func (c *checkpointer) close() {
	if c == nil {
		return
	}
	c.once.Do(func() {
		close(c.stop)
		<-c.done
		c.db.Close()
	})
}

// AutoCheckpoint returns the wal_autocheckpoint of the queue's connection:
// 0 for a daemon's (its checkpointer checkpoints), SQLite's default of
// 1,000 pages for the command line's.
func (q *Queue) AutoCheckpoint(ctx context.Context) (int, error) {
	var n int
	err := q.db.QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&n)
	return n, q.explain(err)
}
