package queue

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strings"
)

// The hot path (enqueue, claim, complete) runs on the driver's connection
// directly (conn), not through database/sql. database/sql starts a
// goroutine for every query inside a transaction (to close its rows when
// the transaction's context ends) and wraps every prepared statement per
// transaction; for statements that take SQLite a few microseconds, that
// was most of the queue's cost. Here statements are prepared once per
// connection and run synchronously: a transaction is never interrupted
// half-way (cancellation is checked before it starts, as in inTx).

// conn is the database's one connection at the driver level, borrowed from
// database/sql's pool for one transaction (or one read). Statements are
// the driver's, prepared once per connection and cached in the Queue.
type conn struct {
	q  *Queue
	dc driver.Conn
}

// stmtCache holds the driver statements prepared on one connection, and
// its wal_autocheckpoint as last set (-1: not yet).
type stmtCache struct {
	dc    driver.Conn
	stmts map[string]driver.Stmt
	auto  int
}

// withConn runs fn on the driver connection, outside any transaction
// unless fn begins one.
func (q *Queue) withConn(ctx context.Context, fn func(c *conn) error) error {
	sc, err := q.db.Conn(context.WithoutCancel(ctx))
	if err != nil {
		return err
	}
	defer sc.Close()
	return sc.Raw(func(dc any) error {
		d, ok := dc.(driver.Conn)
		if !ok {
			return fmt.Errorf("queue: the driver's connection is a %T", dc)
		}
		return fn(&conn{q: q, dc: d})
	})
}

// hotTx runs fn in an immediate transaction on the driver connection,
// rolling back on error or panic. Like inTx, cancellation of ctx is
// checked before starting and never interrupts the transaction. A
// connection whose rollback failed may still be inside the transaction:
// it is handed back as broken (driver.ErrBadConn), so database/sql closes
// it and the next caller gets a fresh one. The checkpointer hears of the
// commit once the connection is back in the pool (a writer that waits for
// a checkpoint never holds it); the transaction itself holds the
// checkpointer's gate, which a RESTART or TRUNCATE takes instead of
// polling for the write lock (see checkpoint.go).
func (q *Queue) hotTx(ctx context.Context, fn func(c *conn) error) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	defer func() { err = q.explain(err) }()
	err = q.withConn(ctx, func(c *conn) (err error) {
		if err := c.autoCheckpoint(); err != nil {
			return err
		}
		q.ckpt.enter()
		defer q.ckpt.leave()
		if _, err := c.exec(`BEGIN IMMEDIATE`); err != nil {
			return fmt.Errorf("queue: begin: %w", err)
		}
		rollback := func() error {
			if _, rerr := c.exec(`ROLLBACK`); rerr != nil {
				if strings.Contains(rerr.Error(), "no transaction is active") {
					return nil // SQLite ended it itself (a COMMIT that failed on a full disk)
				}
				return fmt.Errorf("queue: rollback: %v: %w", rerr, driver.ErrBadConn)
			}
			return nil
		}
		defer func() {
			if p := recover(); p != nil {
				rollback()
				panic(p)
			}
			if err != nil {
				err = errors.Join(err, rollback())
			}
		}()
		if err = fn(c); err != nil {
			return err
		}
		if _, err = c.exec(`COMMIT`); err != nil {
			return fmt.Errorf("queue: commit: %w", err)
		}
		return nil
	})
	if err == nil {
		q.ckpt.committed()
	}
	return err
}

// stmt returns query prepared on c's connection, preparing it the first
// time. The cache is dropped when database/sql hands out another
// connection (after the previous one failed).
func (c *conn) stmt(query string) (driver.Stmt, error) {
	q := c.q
	q.cacheMu.Lock()
	defer q.cacheMu.Unlock()
	c.attachLocked()
	if st, ok := q.cache.stmts[query]; ok {
		return st, nil
	}
	st, err := c.dc.Prepare(query)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	q.cache.stmts[query] = st
	return st, nil
}

// attachLocked makes the cache c's connection's, dropping another's;
// under cacheMu.
func (c *conn) attachLocked() {
	q := c.q
	if q.cache.dc != c.dc {
		for _, st := range q.cache.stmts {
			st.Close()
		}
		q.cache = stmtCache{dc: c.dc, stmts: map[string]driver.Stmt{}, auto: -1}
	}
}

// closeStmts finalizes the cached statements; the connection is about to
// close.
func (q *Queue) closeStmts() {
	q.cacheMu.Lock()
	defer q.cacheMu.Unlock()
	for _, st := range q.cache.stmts {
		st.Close()
	}
	q.cache = stmtCache{}
}

// namedArgs converts args to the driver's positional values: the driver
// takes int64, float64, bool, []byte, string and nil (an int becomes an
// int64, as database/sql converts it).
func namedArgs(args []any) ([]driver.NamedValue, error) {
	nv := make([]driver.NamedValue, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case int:
			a = int64(v)
		case nil, int64, float64, bool, []byte, string:
		default:
			return nil, fmt.Errorf("queue: argument %d of type %T", i+1, a)
		}
		nv[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}
	return nv, nil
}

// exec runs a statement that returns no rows and reports how many rows it
// changed.
func (c *conn) exec(query string, args ...any) (int64, error) {
	res, err := c.run(query, args)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// insert runs an INSERT of one row and returns the row's id.
func (c *conn) insert(query string, args ...any) (int64, error) {
	res, err := c.run(query, args)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// run runs a statement that returns no rows.
func (c *conn) run(query string, args []any) (driver.Result, error) {
	st, err := c.stmt(query)
	if err != nil {
		return nil, err
	}
	nv, err := namedArgs(args)
	if err != nil {
		return nil, err
	}
	return st.(driver.StmtExecContext).ExecContext(context.Background(), nv)
}

// query runs a statement and calls each for every row it returns, with a
// scan function that fills dest the way database/sql's Scan does for the
// types the queue uses (*int64, *int, *string).
func (c *conn) query(query string, args []any, each func(scan func(dest ...any) error) error) error {
	st, err := c.stmt(query)
	if err != nil {
		return err
	}
	nv, err := namedArgs(args)
	if err != nil {
		return err
	}
	rows, err := st.(driver.StmtQueryContext).QueryContext(context.Background(), nv)
	if err != nil {
		return err
	}
	defer rows.Close()
	vals := make([]driver.Value, len(rows.Columns()))
	scan := func(dest ...any) error { return scanValues(vals, dest) }
	for {
		if err := rows.Next(vals); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if err := each(scan); err != nil {
			return err
		}
	}
}

// queryRow runs a statement and scans its first row into dest; it returns
// sql.ErrNoRows when there is none.
func (c *conn) queryRow(query string, args []any, dest ...any) error {
	found := false
	err := c.query(query, args, func(scan func(...any) error) error {
		if found {
			return nil
		}
		found = true
		return scan(dest...)
	})
	if err == nil && !found {
		return sql.ErrNoRows
	}
	return err
}

// scanValues stores a row's driver values in dest.
func scanValues(vals []driver.Value, dest []any) error {
	if len(dest) != len(vals) {
		return fmt.Errorf("queue: scan of %d columns into %d values", len(vals), len(dest))
	}
	for i, v := range vals {
		switch d := dest[i].(type) {
		case *int64:
			n, ok := v.(int64)
			if !ok {
				return fmt.Errorf("queue: column %d is %T, not an integer", i+1, v)
			}
			*d = n
		case *int:
			n, ok := v.(int64)
			if !ok {
				return fmt.Errorf("queue: column %d is %T, not an integer", i+1, v)
			}
			*d = int(n)
		case *string:
			switch s := v.(type) {
			case string:
				*d = s
			case []byte:
				*d = string(s)
			default:
				return fmt.Errorf("queue: column %d is %T, not text", i+1, v)
			}
		default:
			return fmt.Errorf("queue: scan into %T", dest[i])
		}
	}
	return nil
}

// noAutoCheckpoint keeps a connection from checkpointing in its commits
// (see checkpoint.go).
const noAutoCheckpoint = `PRAGMA wal_autocheckpoint = 0`

// journalSizeLimit cuts the log's file back to ckptRestartBytes when a
// commit starts it again from its beginning (see checkpoint.go); SQLite
// otherwise keeps the file at the largest size it ever reached.
var journalSizeLimit = fmt.Sprintf(`PRAGMA journal_size_limit = %d`, ckptRestartBytes)

// autoCheckpoint gives a daemon's connection the wal_autocheckpoint the
// checkpointer needs: none while it works, SQLite's default while it fails
// (see checkpoint.go), and, once, its journalSizeLimit. It runs before
// every transaction of the hot path, outside it; a connection keeps what
// was set.
func (c *conn) autoCheckpoint() error {
	q := c.q
	if !q.daemon {
		return nil
	}
	want := 0
	if q.ckpt.failing() {
		want = autoCheckpoint
	}
	q.cacheMu.Lock()
	defer q.cacheMu.Unlock()
	c.attachLocked()
	if q.cache.auto == want {
		return nil
	}
	if q.cache.auto < 0 { // a connection new to the cache
		if err := execDriver(c.dc, journalSizeLimit); err != nil {
			return err
		}
	}
	if err := execDriver(c.dc, fmt.Sprintf(`PRAGMA wal_autocheckpoint = %d`, want)); err != nil {
		return err
	}
	q.cache.auto = want
	return nil
}

// noAutoCheckpoint sets it on the daemon's connection when the queue opens.
func (q *Queue) noAutoCheckpoint(ctx context.Context) error {
	_, err := q.db.ExecContext(ctx, noAutoCheckpoint)
	return err
}

// execDriver runs a statement without arguments on a driver connection.
func execDriver(dc driver.Conn, query string) error {
	st, err := dc.Prepare(query)
	if err != nil {
		return err
	}
	defer st.Close()
	_, err = st.(driver.StmtExecContext).ExecContext(context.Background(), nil)
	return err
}
