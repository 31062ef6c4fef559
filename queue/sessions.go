package queue

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/dropsync/dropsync/targets"
)

// Sessions returns the upload-session store of one path, for the driver.
func (q *Queue) Sessions(watch, rel, target string) targets.SessionStore {
	return &sessionStore{q: q, watch: watch, rel: rel, target: target}
}

type sessionStore struct {
	q                  *Queue
	watch, rel, target string
}

func (s *sessionStore) Load(ctx context.Context) (*targets.Session, error) {
	var sess targets.Session
	var plan, target string
	var inode, dev int64
	err := s.q.db.QueryRowContext(ctx, `SELECT target, token, plan, offset, chunk_size, hash_state, size, mtime, inode, dev, ctime FROM upload_sessions WHERE watch = ? AND rel = ?`,
		s.watch, s.rel).Scan(&target, &sess.Token, &plan, &sess.Offset, &sess.ChunkSize, &sess.HashState, &sess.Size, &sess.ModTime, &inode, &dev, &sess.CTime)
	sess.Inode, sess.Dev = uint64(inode), uint64(dev)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("queue: load session: %w", s.q.explain(err))
	}
	if target != s.target {
		return nil, nil // the watch now goes elsewhere: the session is useless
	}
	if err := json.Unmarshal([]byte(plan), &sess.Plan); err != nil {
		return nil, fmt.Errorf("queue: session plan: %w", err)
	}
	return &sess, nil
}

func (s *sessionStore) Save(ctx context.Context, sess *targets.Session) error {
	plan, err := json.Marshal(sess.Plan)
	if err != nil {
		return err
	}
	return s.q.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO upload_sessions (watch, rel, target, token, plan, offset, chunk_size, hash_state, size, mtime, inode, dev, ctime, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (watch, rel) DO UPDATE SET target = excluded.target, token = excluded.token, plan = excluded.plan, offset = excluded.offset,
			chunk_size = excluded.chunk_size, hash_state = excluded.hash_state, size = excluded.size, mtime = excluded.mtime,
			inode = excluded.inode, dev = excluded.dev, ctime = excluded.ctime, updated_at = excluded.updated_at`,
			s.watch, s.rel, s.target, sess.Token, string(plan), sess.Offset, sess.ChunkSize, sess.HashState, sess.Size, sess.ModTime,
			int64(sess.Inode), int64(sess.Dev), sess.CTime, ms(s.q.now()))
		return err
	})
}

func (s *sessionStore) Delete(ctx context.Context) error {
	_, err := s.q.db.ExecContext(ctx, `DELETE FROM upload_sessions WHERE watch = ? AND rel = ?`, s.watch, s.rel)
	return s.q.explain(err)
}
