package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// LockFileName is the file in the state directory that the running daemon
// holds locked; it contains the daemon's process id.
const LockFileName = "dropsync.lock"

// busyTimeout is how long a statement waits for another connection's
// write lock before the error (naming the holder) is returned: the
// daemon's and the CLI's transactions are short, so a wait this long means
// a program holds the database.
const busyTimeout = "1000" // ms

// newPageSize is the page size of a database the daemon creates. Rows of
// the hot tables are a few hundred bytes and a burst changes rows all
// over each index, so every commit writes one page per row per index
// touched: at 2 KiB the log receives half the bytes of SQLite's default
// 4 KiB pages for the same commits, and an index key (a watch and a
// relative path) still stays on its page up to 488 bytes (above that it
// spills to an overflow page; at 1 KiB that happens from 231). An existing
// database keeps its page size: changing it would rewrite the whole file
// (VACUUM outside WAL mode).
const newPageSize = 2048

// openMode says who opens the database and what it may do.
type openMode int

const (
	modeDaemon openMode = iota // create, migrate, recover leases
	modeWriter                 // steer a queue beside the daemon: no create, no migration
	modeReader                 // inspect: mode=ro, no write of any kind
)

// Open opens (creating if needed, mode 0600 in a 0700 directory) the
// database in stateDir, migrates it to the current schema, and returns
// leases left by a previous process to pending. Only the daemon calls it:
// it is the one place that migrates.
func Open(ctx context.Context, stateDir string) (*Queue, error) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("queue: create state dir: %w", err)
	}
	path := filepath.Join(stateDir, FileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	fi, err := f.Stat()
	f.Close()
	if err == nil && fi.Size() == 0 {
		if err := create(ctx, path); err != nil {
			return nil, err
		}
	}
	q, err := open(ctx, path, modeDaemon)
	if err != nil {
		return nil, err
	}
	if q.sending, err = openSending(stateDir); err != nil {
		q.Close()
		return nil, fmt.Errorf("queue: %w", err)
	}
	if err := q.recoverLeases(ctx); err != nil {
		q.Close()
		return nil, fmt.Errorf("queue: recover leases: %w", q.explain(err))
	}
	return q, nil
}

// ClassAmbiguous counts a job's attempts that sent the whole file and got
// no whole answer (see targets.Error.Ambiguous): before the next attempt
// the server is asked whether the file landed, or the re-sends are
// bounded.
const ClassAmbiguous = "ambiguous: sent, no answer"

// ClassKilled counts, beside ClassAmbiguous, the ambiguous attempts that
// a killed daemon left (recoverLeases): no adapter judged them when they
// happened, so the next attempt does (before it sends) and then resets
// this count.
const ClassKilled = "ambiguous: sent, daemon killed"

// create makes the empty file at path a database of newPageSize pages in
// WAL mode. The page size holds only if it is set before anything is
// written, and switching to WAL writes the first page: so it runs on a
// connection of its own, before the pool's, whose DSN switches to WAL at
// connect. A file that is not empty is left alone.
func create(ctx context.Context, path string) error {
	db, err := openPool("file:"+path+"?_busy_timeout="+busyTimeout, 1)
	if err != nil {
		return fmt.Errorf("queue: create %s: %w", path, err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, fmt.Sprintf(`PRAGMA page_size = %d; PRAGMA journal_mode = WAL`, newPageSize)); err != nil {
		return fmt.Errorf("queue: create: %w", (&Queue{path: path}).explain(err))
	}
	return nil
}

// OpenExisting opens the database in stateDir to steer it beside a running
// daemon (queue retry, queue forget), through the same methods the daemon
// uses; RetryFailed tells a running daemon at once (see Changes). It
// neither creates nor migrates the database, nor recovers leases (they
// belong to the daemon), and refuses a schema other than its own.
func OpenExisting(ctx context.Context, stateDir string) (*Queue, error) {
	path, err := existing(stateDir)
	if err != nil {
		return nil, err
	}
	return open(ctx, path, modeWriter)
}

// OpenReadOnly opens the database in stateDir for inspection (status, queue
// list) with SQLite's mode=ro: it never writes, so it cannot migrate the
// database under a running daemon of another version, and a user who may
// only read the file can use it. A schema other than its own is refused.
func OpenReadOnly(ctx context.Context, stateDir string) (*Queue, error) {
	path, err := existing(stateDir)
	if err != nil {
		return nil, err
	}
	return open(ctx, path, modeReader)
}

func existing(stateDir string) (string, error) {
	path := filepath.Join(stateDir, FileName)
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("no state database at %s (has dropsync run with this state_dir?): %w", path, errors.Unwrap(err))
	}
	return path, nil
}

// open connects to the database at path, brings or checks its schema, and
// prepares the hot statements.
func open(ctx context.Context, path string, mode openMode) (*Queue, error) {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	dsn := "file:" + path + "?_journal_mode=WAL&_busy_timeout=" + busyTimeout + "&_txlock=immediate&_synchronous=NORMAL"
	if mode == modeReader {
		dsn = "file:" + path + "?mode=ro&_busy_timeout=" + busyTimeout
	}
	db, err := openPool(dsn, 1)
	if err != nil {
		return nil, fmt.Errorf("queue: open %s: %w", path, err)
	}
	q := &Queue{db: db, path: path, now: time.Now, daemon: mode == modeDaemon}
	if mode == modeDaemon {
		q.file, _ = os.Stat(path) // opened by the pool just now
		err = q.migrate(ctx)
		if err == nil {
			err = q.noAutoCheckpoint(ctx)
		}
		if err == nil {
			q.ckpt, err = startCheckpointer(dsn, path)
		}
		if err == nil {
			q.read, err = openReader(ctx, dsn)
		}
		if err == nil {
			var some bool
			err = q.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM upload_sessions)`).Scan(&some)
			q.sessionsMaybe.Store(some)
		}
	} else {
		q.sessionsMaybe.Store(true)
		err = q.checkSchema(ctx)
	}
	if err != nil && mode == modeReader && cleanlyClosed(path) {
		if code, _ := sqliteCode(err); code == codeReadonly || code == codeCantOpen {
			// A reader who may not create the -shm file (no write access
			// to the state directory) can still read a database that no
			// process has open: with no -wal file, it is all in the main
			// file.
			q.Close()
			return openImmutable(ctx, path)
		}
	}
	if err != nil {
		q.Close()
		return nil, err
	}
	return q, nil
}

// checkSchema refuses a database whose schema is not the one this binary
// was built for: reading or writing it could misread it, and migrating is
// the daemon's alone.
func (q *Queue) checkSchema(ctx context.Context) error {
	var v int
	if err := q.db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
		return fmt.Errorf("queue: read schema version: %w", q.explain(err))
	}
	switch {
	case v > len(migrations):
		return fmt.Errorf("queue: the database %s is newer than this dropsync understands (schema %d, this dropsync %d): use the dropsync binary the daemon runs, or upgrade this one", q.path, v, len(migrations))
	case v < len(migrations):
		return fmt.Errorf("queue: the database %s is older than this dropsync understands (schema %d, this dropsync %d): restart the daemon with this version (it migrates the database at start), or use the dropsync binary it runs", q.path, v, len(migrations))
	}
	return nil
}

// cleanlyClosed reports whether the database has no write-ahead log: the
// last connection closed it and everything is in the main file.
func cleanlyClosed(path string) bool {
	fi, err := os.Stat(path + "-wal")
	return errors.Is(err, os.ErrNotExist) || (err == nil && fi.Size() == 0)
}

// openImmutable opens a cleanly closed database read-only without the
// shared-memory file, for a reader who cannot create it.
func openImmutable(ctx context.Context, path string) (*Queue, error) {
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&immutable=1")
	if err != nil {
		return nil, fmt.Errorf("queue: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	q := &Queue{db: db, path: path, now: time.Now}
	if err := q.checkSchema(ctx); err != nil {
		q.Close()
		return nil, err
	}
	return q, nil
}

// openPool opens a pool of at most conns connections to the database at
// dsn, kept open while the queue is (SQLite connections are cheap to keep
// and their page caches and prepared statements costly to rebuild).
func openPool(dsn string, conns int) (*sql.DB, error) {
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	return db, nil
}
