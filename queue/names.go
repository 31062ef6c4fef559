package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/dropsync/dropsync/targets"
)

// NameOwner returns the local path recorded for the remote name key of
// target; found is false when none is. A daemon reads it on its reader
// connection: a worker's look-up before its upload does not wait for the
// commits of the others. It sees every committed owner, and an owner is
// committed before the name's in-memory lock is released (daemon/claims.go).
func (q *Queue) NameOwner(ctx context.Context, target, key string) (watch, rel string, found bool, err error) {
	if q.read != nil {
		err = q.read.owner.QueryRowContext(context.WithoutCancel(ctx), target, key).Scan(&watch, &rel)
	} else {
		err = q.withConn(ctx, func(c *conn) error {
			return c.queryRow(qNameOwner, []any{target, key}, &watch, &rel)
		})
	}
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, fmt.Errorf("queue: name owner: %w", q.explain(err))
	}
	return watch, rel, true, nil
}

// reader is a daemon's connections for look-ups that must not queue behind
// the writer: in WAL mode a reader sees the last commit and never waits
// for a transaction in progress.
type reader struct {
	db    *sql.DB
	owner *sql.Stmt // qNameOwner
}

// openReader opens a reader on the database at dsn.
func openReader(ctx context.Context, dsn string) (*reader, error) {
	db, err := openPool(dsn, 2)
	if err != nil {
		return nil, err
	}
	owner, err := db.PrepareContext(ctx, qNameOwner)
	if err != nil {
		db.Close()
		return nil, err
	}
	return &reader{db: db, owner: owner}, nil
}

func (r *reader) close() {
	if r != nil {
		r.owner.Close()
		r.db.Close()
	}
}

// The name book's statements run for every delivery: they are hot
// statements, prepared once.
const qNameOwner = `SELECT watch, rel FROM remote_names WHERE target = ? AND key = ?`

const qClaimName = `INSERT INTO remote_names (target, key, watch, rel, at) VALUES (?, ?, ?, ?, ?)
	ON CONFLICT (target, key) DO UPDATE SET watch = excluded.watch, rel = excluded.rel, at = excluded.at`

// claimNames records job j's path as the owner of the remote name keys,
// within the transaction that completes it.
func claimNames(c *conn, j *Job, keys []string, now int64) error {
	for _, k := range keys {
		if _, err := c.exec(qClaimName, j.Target, k, j.Watch, j.Rel, now); err != nil {
			return fmt.Errorf("claim name: %w", err)
		}
	}
	return nil
}

// Names returns the name book of target, for targets.File.Names.
func (q *Queue) Names(target string) targets.NameBook { return nameBook{q: q, target: target} }

type nameBook struct {
	q      *Queue
	target string
}

func (b nameBook) Owner(ctx context.Context, key string) (watch, rel string, found bool, err error) {
	return b.q.NameOwner(ctx, b.target, key)
}
