package queue

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
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
// without holding up writers. Commits go on into the log meanwhile, so
// under a steady stream of writes the log is never found fully copied and
// would only grow: once it holds ckptRestartPages or more, the next
// checkpoint is a RESTART, which waits for the writer, copies the rest and
// starts the log again from its beginning (writers wait for that one, a
// few times per hundred megabytes written). One checkpoint runs at a time
// (Sync takes the same lock). An idle daemon commits nothing and so
// checkpoints nothing; the last connection to close checkpoints what is
// left.
const (
	ckptCommits      = 64
	ckptRestartPages = 8192 // 32 MiB of 4 KiB pages
)

// checkpointer runs checkpoints on its own connection.
type checkpointer struct {
	db      *sql.DB
	mu      sync.Mutex // one checkpoint at a time (with Sync)
	commits atomic.Int64
	kick    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	restart bool // the last checkpoint left ckptRestartPages or more in the log; under mu
	log     *slog.Logger
}

// startCheckpointer opens the checkpointer's connection to the database at
// dsn and starts it.
func startCheckpointer(dsn string) (*checkpointer, error) {
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	c := &checkpointer{db: db, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}), log: slog.Default()}
	go c.run()
	return c, nil
}

// committed counts a commit of the daemon's connection and wakes the
// checkpointer every ckptCommits commits.
func (c *checkpointer) committed() {
	if c == nil || c.commits.Add(1)%ckptCommits != 0 {
		return
	}
	select {
	case c.kick <- struct{}{}:
	default:
	}
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
		if err != nil {
			c.log.Warn("queue: checkpoint of the write-ahead log; the next one tries again", "err", err)
		}
	}
}

// checkpoint runs one checkpoint, under mu.
func (c *checkpointer) checkpoint() error {
	mode := "PASSIVE"
	if c.restart {
		mode = "RESTART"
	}
	var busy, pages, copied int
	if err := c.db.QueryRowContext(context.Background(), `PRAGMA wal_checkpoint(`+mode+`)`).Scan(&busy, &pages, &copied); err != nil {
		return fmt.Errorf("%s: %w", mode, err)
	}
	c.restart = pages >= ckptRestartPages && (mode == "PASSIVE" || busy != 0)
	return nil
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
