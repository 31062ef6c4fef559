package queue

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Retention says how long finished records are kept; Prune applies it.
//
// What is kept forever, and why: the file state of every file still in its
// watch (without it each rescan would send the file again), and the file
// state of a file that left its watch while its record is still needed
// (Forgettable says no: with deletes: propagate, a deletion not yet
// propagated to the remote; a path with a job in progress). Everything else
// goes: done jobs after Done, failed jobs after Failed (after which an
// unchanged failed file is tried once more at the next scan), and the
// records of files gone from their watch for ForgottenState (after which a
// file of the same path counts as new: on_conflict decides what happens at
// the remote).
type Retention struct {
	Done           time.Duration
	Failed         time.Duration
	ForgottenState time.Duration
	// Forgettable reports whether a file's record serves nothing any more:
	// the file is no longer in its watch (dropsync moved or deleted it, or
	// someone deleted it) and no remote deletion waits for the record. It
	// is asked about every record at each Prune, outside any transaction.
	Forgettable func(StateRef) bool
}

// StateRef names one file state record.
type StateRef struct {
	Watch, Rel, Target string
	// MovedAway: dropsync itself moved or deleted the local file
	// (after_upload, failed_to).
	MovedAway bool
}

// Pruned counts what one Prune removed.
type Pruned struct {
	Done, Failed, States int64
	// Sessions are upload sessions left without an active job (its job was
	// forgotten by hand), removed after the Failed retention.
	Sessions int64
}

// pruneBatch bounds each write transaction of a prune, so workers never
// wait long for the database.
const pruneBatch = 1000

// The statements of the retention pass (each uses an index; see
// TestLookupsUseIndexes).
var retentionStatements = map[string]string{
	"jobs":   `DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state = ?1 AND updated_at < ?2 LIMIT ?3)`,
	"page":   `SELECT watch, rel, target, moved_away, gone_since FROM file_state WHERE (watch, rel) > (?1, ?2) ORDER BY watch, rel LIMIT ?3`,
	"mark":   `UPDATE file_state SET gone_since = ?1 WHERE watch = ?2 AND rel = ?3 AND gone_since = 0`,
	"unmark": `UPDATE file_state SET gone_since = 0 WHERE watch = ?1 AND rel = ?2`,
	"sessions": `DELETE FROM upload_sessions WHERE rowid IN (SELECT rowid FROM upload_sessions s WHERE updated_at < ?1
		AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.watch = s.watch AND j.rel = s.rel AND j.state IN ('pending', 'leased')) LIMIT ?2)`,
	"forget": `DELETE FROM file_state WHERE rowid IN (SELECT rowid FROM file_state f WHERE gone_since != 0 AND gone_since < ?1
		AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.watch = f.watch AND j.rel = f.rel AND j.state IN ('pending', 'leased')) LIMIT ?2)`,
	"after_upload": `DELETE FROM after_upload_failures WHERE rowid IN (SELECT rowid FROM after_upload_failures a
		WHERE NOT EXISTS (SELECT 1 FROM file_state f WHERE f.watch = a.watch AND f.rel = a.rel) LIMIT ?1)`,
	"attempts": `DELETE FROM job_attempts WHERE rowid IN (SELECT a.rowid FROM job_attempts a
		WHERE NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = a.job_id AND j.state IN ('pending', 'leased')) LIMIT ?1)`,
}

// Prune removes what the retention policy no longer keeps, in small
// transactions. It first sweeps every file state record, noting when a
// record became forgettable (and clearing that when its file is back),
// then deletes done jobs, failed jobs, the records forgettable for longer
// than ForgottenState, upload sessions orphaned for longer than Failed, and
// the recorded after_upload failures of files whose record is gone, and the
// per-kind attempts of jobs no longer pending or leased.
func (q *Queue) Prune(ctx context.Context, r Retention) (Pruned, error) {
	var p Pruned
	if err := q.sweep(ctx, r.Forgettable); err != nil {
		return p, fmt.Errorf("queue: prune: %w", err)
	}
	now := q.now()
	steps := []struct {
		n     *int64
		query string
		args  []any
	}{
		{&p.Done, retentionStatements["jobs"], []any{Done, ms(now.Add(-r.Done))}},
		{&p.Failed, retentionStatements["jobs"], []any{Failed, ms(now.Add(-r.Failed))}},
		{&p.States, retentionStatements["forget"], []any{ms(now.Add(-r.ForgottenState))}},
		{&p.Sessions, retentionStatements["sessions"], []any{ms(now.Add(-r.Failed))}},
		{new(int64), retentionStatements["after_upload"], nil}, // of files forgotten: nothing tries them again
		{new(int64), retentionStatements["attempts"], nil},     // of jobs no longer active
	}
	for _, s := range steps {
		for {
			var n int64
			err := q.inTx(ctx, func(tx *sql.Tx) error {
				res, err := tx.ExecContext(ctx, s.query, append(s.args, pruneBatch)...)
				if err != nil {
					return err
				}
				n, err = res.RowsAffected()
				return err
			})
			if err != nil {
				return p, fmt.Errorf("queue: prune: %w", err)
			}
			*s.n += n
			if n < pruneBatch {
				break
			}
		}
	}
	return p, nil
}

// sweep asks forgettable about every file state record, a page at a time,
// and records the change: the time a record became forgettable, or that it
// is needed again.
func (q *Queue) sweep(ctx context.Context, forgettable func(StateRef) bool) error {
	if forgettable == nil {
		return nil
	}
	var lastWatch, lastRel string
	for {
		type row struct {
			StateRef
			gone bool
		}
		var page []row
		rows, err := q.db.QueryContext(ctx, retentionStatements["page"], lastWatch, lastRel, pruneBatch)
		if err != nil {
			return q.explain(err)
		}
		for rows.Next() {
			var r row
			var moved int
			var goneSince int64
			if err := rows.Scan(&r.Watch, &r.Rel, &r.Target, &moved, &goneSince); err != nil {
				rows.Close()
				return q.explain(err)
			}
			r.MovedAway, r.gone = moved != 0, goneSince != 0
			page = append(page, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return q.explain(err)
		}
		if len(page) == 0 {
			return nil
		}
		lastWatch, lastRel = page[len(page)-1].Watch, page[len(page)-1].Rel
		var mark, unmark []StateRef
		for _, r := range page {
			if err := ctx.Err(); err != nil {
				return err
			}
			switch f := forgettable(r.StateRef); {
			case f && !r.gone:
				mark = append(mark, r.StateRef)
			case !f && r.gone:
				unmark = append(unmark, r.StateRef)
			}
		}
		if len(mark)+len(unmark) > 0 {
			now := ms(q.now())
			err := q.inTx(ctx, func(tx *sql.Tx) error {
				for _, s := range mark {
					if _, err := tx.ExecContext(ctx, retentionStatements["mark"], now, s.Watch, s.Rel); err != nil {
						return err
					}
				}
				for _, s := range unmark {
					if _, err := tx.ExecContext(ctx, retentionStatements["unmark"], s.Watch, s.Rel); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		if len(page) < pruneBatch {
			return nil
		}
	}
}
