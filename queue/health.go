package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/dropsync/dropsync/internal/fsid"
)

// Target health states, as the daemon's health component decides them.
// While a target is down or has its credentials rejected, Claim leaves its
// jobs pending; a throttled target is held by its pause (PauseTarget).
const (
	TargetUp          = "up"
	TargetThrottled   = "throttled"
	TargetDown        = "down"
	TargetCredentials = "credentials rejected"
)

// Requests the CLI leaves for the daemon in the target_health table.
const (
	RequestRetry  = "retry"  // probe the target now
	RequestResume = "resume" // end a throttle pause
)

// TargetHealth is the recorded health of one target.
type TargetHealth struct {
	Target    string    `json:"target"`
	State     string    `json:"state"`
	Since     time.Time `json:"since"`
	Reason    string    `json:"last_error,omitempty"`
	NextProbe time.Time `json:"next_probe,omitzero"`
}

// SetTargetHealth records h, keeping any pending request from the CLI.
func (q *Queue) SetTargetHealth(ctx context.Context, h TargetHealth) error {
	var next int64
	if !h.NextProbe.IsZero() {
		next = ms(h.NextProbe)
	}
	return q.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO target_health (target, state, since, reason, next_probe) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (target) DO UPDATE SET state = excluded.state, since = excluded.since, reason = excluded.reason, next_probe = excluded.next_probe`,
			h.Target, h.State, ms(h.Since), h.Reason, next)
		if err != nil {
			return fmt.Errorf("queue: record target health: %w", err)
		}
		return nil
	})
}

// TargetsHealth returns the recorded health of every target that has one,
// by name. A throttled target whose pause has ended reads as up.
func (q *Queue) TargetsHealth(ctx context.Context) (map[string]TargetHealth, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT h.target, h.state, h.since, h.reason, h.next_probe, COALESCE(p.until, 0) FROM target_health h
		LEFT JOIN target_pauses p ON p.target = h.target`)
	if err != nil {
		return nil, fmt.Errorf("queue: target health: %w", err)
	}
	defer rows.Close()
	now := ms(q.now())
	out := map[string]TargetHealth{}
	for rows.Next() {
		var h TargetHealth
		var since, next, until int64
		if err := rows.Scan(&h.Target, &h.State, &since, &h.Reason, &next, &until); err != nil {
			return nil, err
		}
		h.Since = time.UnixMilli(since)
		if next > 0 {
			h.NextProbe = time.UnixMilli(next)
		}
		if h.State == TargetThrottled {
			if until <= now {
				h.State, h.Reason = TargetUp, ""
			} else {
				h.NextProbe = time.UnixMilli(until)
			}
		}
		out[h.Target] = h
	}
	return out, rows.Err()
}

// ForgetTargetHealth drops the recorded health, and any request from the
// CLI, of the named targets: those the configuration no longer has, whose
// recorded "down" would otherwise keep the jobs queued for them from ever
// being claimed.
func (q *Queue) ForgetTargetHealth(ctx context.Context, names ...string) error {
	if len(names) == 0 {
		return nil
	}
	return q.inTx(ctx, func(tx *sql.Tx) error {
		for _, n := range names {
			if _, err := tx.ExecContext(ctx, `DELETE FROM target_health WHERE target = ?`, n); err != nil {
				return fmt.Errorf("queue: forget the health of target %s: %w", n, err)
			}
		}
		return nil
	})
}

// RequestTarget leaves a request (RequestRetry, RequestResume) for the
// running daemon and tells it through the state directory's notification. A resume also
// ends the pause at once, so it works without a daemon too.
func (q *Queue) RequestTarget(ctx context.Context, target, request string) error {
	now := ms(q.now())
	err := q.inTx(ctx, func(tx *sql.Tx) error {
		if request == RequestResume {
			if _, err := tx.ExecContext(ctx, `DELETE FROM target_pauses WHERE target = ?`, target); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO target_health (target, state, since, request) VALUES (?, 'up', ?, ?)
			ON CONFLICT (target) DO UPDATE SET request = excluded.request`, target, now, request)
		return err
	})
	if err != nil {
		return fmt.Errorf("queue: target request: %w", err)
	}
	return q.notifyChanged()
}

// TakeTargetRequests returns the CLI's requests by target and clears them.
func (q *Queue) TakeTargetRequests(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	err := q.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT target, request FROM target_health WHERE request != ''`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var t, r string
			if err := rows.Scan(&t, &r); err != nil {
				rows.Close()
				return err
			}
			out[t] = r
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(out) == 0 {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE target_health SET request = '' WHERE request != ''`)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("queue: target requests: %w", err)
	}
	return out, nil
}

// ResumeTarget ends target's throttle pause.
func (q *Queue) ResumeTarget(ctx context.Context, target string) error {
	_, err := q.db.ExecContext(ctx, `DELETE FROM target_pauses WHERE target = ?`, target)
	if err != nil {
		return fmt.Errorf("queue: resume target: %w", err)
	}
	return nil
}

// CapPauses shortens every pause that ends after latest to end then (a
// pause recorded before retry.max_pause existed, or under a larger one).
func (q *Queue) CapPauses(ctx context.Context, latest time.Time) error {
	_, err := q.db.ExecContext(ctx, `UPDATE target_pauses SET until = ? WHERE until > ?`, ms(latest), ms(latest))
	if err != nil {
		return fmt.Errorf("queue: cap pauses: %w", err)
	}
	return nil
}

// PendingByTarget counts the pending jobs of each target (its backlog).
func (q *Queue) PendingByTarget(ctx context.Context) (map[string]int, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT target, COUNT(*) FROM jobs WHERE state = 'pending' GROUP BY target`)
	if err != nil {
		return nil, fmt.Errorf("queue: backlog: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var t string
		var n int
		if err := rows.Scan(&t, &n); err != nil {
			return nil, err
		}
		out[t] = n
	}
	return out, rows.Err()
}

// ClaimTarget leases one pending job of target even though the target is
// not up: the health component's probe by a real job. Like a claim, it
// reads the path's delivery state with the lease. It returns nil when the
// target has no pending job.
func (q *Queue) ClaimTarget(ctx context.Context, target string) (*Job, error) {
	now := ms(q.now())
	var j *Job
	err := q.hotTx(ctx, func(c *conn) error {
		var id int64
		err := c.queryRow(`SELECT id FROM jobs WHERE state = 'pending' AND target = ? ORDER BY not_before, id LIMIT 1`, []any{target}, &id)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		j, err = q.lease(c, id, now)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("queue: claim probe job: %w", err)
	}
	return j, nil
}

// CountAttempt counts one failed attempt of kind class for job j and
// returns how many of that kind its current content has had. A changed
// file starts again from one.
func (q *Queue) CountAttempt(ctx context.Context, j *Job, fp fsid.Fingerprint, class string) (int, error) {
	var n int
	err := q.inTx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO job_attempts (job_id, class, size, mtime, n) VALUES (?, ?, ?, ?, 1)
			ON CONFLICT (job_id, class) DO UPDATE SET n = CASE WHEN size = excluded.size AND mtime = excluded.mtime THEN n + 1 ELSE 1 END,
			size = excluded.size, mtime = excluded.mtime RETURNING n`, j.ID, class, fp.Size, fp.ModTime).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("queue: count attempt: %w", err)
	}
	return n, nil
}

// Attempts returns how many failed attempts of kind class job j has had
// with the content fp.
func (q *Queue) Attempts(ctx context.Context, j *Job, fp fsid.Fingerprint, class string) (int, error) {
	var n int
	err := q.db.QueryRowContext(ctx, `SELECT n FROM job_attempts WHERE job_id = ? AND class = ? AND size = ? AND mtime = ?`, j.ID, class, fp.Size, fp.ModTime).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("queue: attempts: %w", err)
	}
	return n, nil
}

// Counted is a job's count of failed attempts of one kind, for the content
// of the given size and mtime.
type Counted struct {
	Class       string
	Size, MTime int64
	N           int
}

// CountedFor is how many failed attempts of kind class the job had with
// the content fp when it was claimed (Attempts, read with the lease).
func (j *Job) CountedFor(class string, fp fsid.Fingerprint) int {
	for _, a := range j.Counted {
		if a.Class == class && a.Size == fp.Size && a.MTime == fp.ModTime {
			return a.N
		}
	}
	return 0
}

// ResetAttempts forgets job j's attempts of kind class.
func (q *Queue) ResetAttempts(ctx context.Context, j *Job, class string) error {
	_, err := q.db.ExecContext(ctx, `DELETE FROM job_attempts WHERE job_id = ? AND class = ?`, j.ID, class)
	if err != nil {
		return fmt.Errorf("queue: reset attempts: %w", err)
	}
	return nil
}

// ClearAttempts forgets the per-kind attempts of jobs that are no longer
// pending or leased (done, failed, pruned), so a `queue retry` starts them
// afresh.
func (q *Queue) ClearAttempts(ctx context.Context) error {
	_, err := q.db.ExecContext(ctx, `DELETE FROM job_attempts WHERE job_id NOT IN (SELECT id FROM jobs WHERE state IN ('pending', 'leased'))`)
	if err != nil {
		return fmt.Errorf("queue: clear attempts: %w", err)
	}
	return nil
}
