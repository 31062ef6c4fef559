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
	// token is the session this store last loaded or wrote in full: a
	// session keeps its token, plan and fingerprint for its whole life
	// (the driver starts a new one, with a new token, for anything else),
	// so saving it again only moves its offset and hash state.
	token string
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
	s.token = sess.Token
	return &sess, nil
}

// Save records sess. The session this store last loaded or wrote, saved
// again (a confirmed chunk), is updated in one statement: its offset, hash
// state and time. Anything else, or a row that has gone meanwhile (the job
// completed, another process replaced it), is written in full.
func (s *sessionStore) Save(ctx context.Context, sess *targets.Session) error {
	s.q.sessionsMaybe.Store(true) // before the row exists (see Queue.sessionsMaybe)
	if s.token != "" && sess.Token == s.token {
		res, err := s.q.db.ExecContext(ctx, `UPDATE upload_sessions SET offset = ?, hash_state = ?, updated_at = ? WHERE watch = ? AND rel = ? AND target = ? AND token = ?`,
			sess.Offset, sess.HashState, ms(s.q.now()), s.watch, s.rel, s.target, sess.Token)
		if err != nil {
			return fmt.Errorf("queue: save session: %w", s.q.explain(err))
		}
		if n, err := res.RowsAffected(); err == nil && n == 1 {
			return nil
		}
	}
	s.token = ""
	plan, err := json.Marshal(sess.Plan)
	if err != nil {
		return err
	}
	err = s.q.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO upload_sessions (watch, rel, target, token, plan, offset, chunk_size, hash_state, size, mtime, inode, dev, ctime, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (watch, rel) DO UPDATE SET target = excluded.target, token = excluded.token, plan = excluded.plan, offset = excluded.offset,
			chunk_size = excluded.chunk_size, hash_state = excluded.hash_state, size = excluded.size, mtime = excluded.mtime,
			inode = excluded.inode, dev = excluded.dev, ctime = excluded.ctime, updated_at = excluded.updated_at`,
			s.watch, s.rel, s.target, sess.Token, string(plan), sess.Offset, sess.ChunkSize, sess.HashState, sess.Size, sess.ModTime,
			int64(sess.Inode), int64(sess.Dev), sess.CTime, ms(s.q.now()))
		return err
	})
	if err == nil {
		s.token = sess.Token
	}
	return err
}

func (s *sessionStore) Delete(ctx context.Context) error {
	s.token = ""
	_, err := s.q.db.ExecContext(ctx, `DELETE FROM upload_sessions WHERE watch = ? AND rel = ?`, s.watch, s.rel)
	return s.q.explain(err)
}
