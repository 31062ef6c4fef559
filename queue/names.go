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

// qClaimName is the only statement that writes remote_names, and
// claimNames its only caller: ClaimedOwner's invariant (below) rests on
// it. A future writer (a delete, a migration, another process while the
// daemon runs) must count in the key's bucket before it writes, as
// claimNames does, or ClaimedOwner must go.
const qClaimName = `INSERT INTO remote_names (target, key, watch, rel, at) VALUES (?, ?, ?, ?, ?)
	ON CONFLICT (target, key) DO UPDATE SET watch = excluded.watch, rel = excluded.rel, at = excluded.at`

// claimNames records job j's path as the owner of the remote name keys,
// within the transaction that completes it, and counts each record in its
// key's bucket (ClaimedOwner) before it is made.
func (q *Queue) claimNames(c *conn, j *Job, keys []string, now int64) error {
	for _, k := range keys {
		q.nameSeq[nameBucket(j.Target, k)].Add(1)
		if _, err := c.exec(qClaimName, j.Target, k, j.Watch, j.Rel, now); err != nil {
			return fmt.Errorf("claim name: %w", err)
		}
	}
	return nil
}

// Owners read at claim time.
//
// A worker looks up who owns its file's remote name holding that name's
// in-memory lock, so that no other delivery records the name between the
// look-up and its own (daemon/claims.go). On the reader connection that
// look-up reads its pages again after every commit of the writer, which in
// a burst is every look-up. A claim given Want.NameKey therefore reads
// each claimed job's owner in its own transaction, on the writer's warm
// pages, and ClaimedOwner hands that reading to the worker, once it holds
// the lock, only if no name of the key's bucket was recorded since.
//
// Invariant: a reading is used only if every record of its key (claimNames,
// the only writer of remote_names) either came before it in the writer's
// order of statements, and so is in what it read, or counted in the key's
// bucket after the reading took the bucket's count. Both run on the
// writer's connection, one statement at a time, and claimNames counts
// before it writes: a record the reading did not see has counted after it.
// A counted record that is rolled back costs a look-up, nothing else; a
// claim whose transaction is rolled back is run again, reading again.
const nameBuckets = 4096

// ownerReading is a remote name's owner as a claim read it.
type ownerReading struct {
	target, key string
	seq         uint64 // the bucket's count when read
	watch, rel  string
	found       bool
}

// nameBucket is the bucket of target's name key (FNV-1a).
func nameBucket(target, key string) int {
	h := uint32(2166136261)
	for _, s := range [...]string{target, "\x00", key} {
		for i := 0; i < len(s); i++ {
			h = (h ^ uint32(s[i])) * 16777619
		}
	}
	return int(h % nameBuckets)
}

// readOwner reads, in c's transaction, the owner of the remote name key
// that keyOf gives for the claimed job j.
func (q *Queue) readOwner(c *conn, j *Job, keyOf func(*Job) (string, string, bool)) error {
	target, key, ok := keyOf(j)
	if !ok {
		return nil
	}
	r := &ownerReading{target: target, key: key, seq: q.nameSeq[nameBucket(target, key)].Load()}
	err := c.queryRow(qNameOwner, []any{target, key}, &r.watch, &r.rel)
	switch {
	case err == nil:
		r.found = true
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("name owner: %w", err)
	}
	j.owner = r
	return nil
}

// ClaimedOwner returns the owner of target's remote name key as j's claim
// read it, with ok, if the claim read that key and no name of its bucket
// has been recorded since; ok is false otherwise, and NameOwner must be
// asked. Call it holding the name's lock.
func (q *Queue) ClaimedOwner(j *Job, target, key string) (watch, rel string, found, ok bool) {
	r := j.owner
	if r == nil || r.target != target || r.key != key || q.nameSeq[nameBucket(target, key)].Load() != r.seq {
		return "", "", false, false
	}
	return r.watch, r.rel, r.found, true
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
