package queue

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// AfterUploadFailure is an after_upload action (delete, move) that failed
// for a delivered file; the next scan tries it again.
type AfterUploadFailure struct {
	Watch  string    `json:"watch"`
	Rel    string    `json:"path"`
	Action string    `json:"action"`
	Error  string    `json:"error"`
	At     time.Time `json:"at"`
}

// AfterUploadFailed records that watch/rel's after_upload action failed.
func (q *Queue) AfterUploadFailed(ctx context.Context, watch, rel, action, msg string) error {
	_, err := q.db.ExecContext(ctx, `INSERT INTO after_upload_failures (watch, rel, action, error, at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (watch, rel) DO UPDATE SET action = excluded.action, error = excluded.error, at = excluded.at`,
		watch, rel, action, msg, ms(q.now()))
	if err != nil {
		return fmt.Errorf("queue: record after_upload failure: %w", err)
	}
	return nil
}

// AfterUploadDone clears a recorded after_upload failure of watch/rel.
func (q *Queue) AfterUploadDone(ctx context.Context, watch, rel string) error {
	if _, err := q.db.ExecContext(ctx, `DELETE FROM after_upload_failures WHERE watch = ? AND rel = ?`, watch, rel); err != nil {
		return fmt.Errorf("queue: clear after_upload failure: %w", err)
	}
	return nil
}

// AfterUploadFailures returns how many after_upload actions stand failed
// and the most recent of them, at most limit. A database from before the
// table existed (opened without migrating) has none.
func (q *Queue) AfterUploadFailures(ctx context.Context, limit int) (int, []AfterUploadFailure, error) {
	var n int
	if err := q.db.QueryRowContext(ctx, `SELECT count(*) FROM after_upload_failures`).Scan(&n); err != nil {
		if strings.Contains(err.Error(), "no such table") {
			return 0, []AfterUploadFailure{}, nil
		}
		return 0, nil, fmt.Errorf("queue: after_upload failures: %w", err)
	}
	rows, err := q.db.QueryContext(ctx, `SELECT watch, rel, action, error, at FROM after_upload_failures ORDER BY at DESC LIMIT ?`, limit)
	if err != nil {
		return 0, nil, fmt.Errorf("queue: after_upload failures: %w", err)
	}
	defer rows.Close()
	out := []AfterUploadFailure{}
	for rows.Next() {
		var f AfterUploadFailure
		var at int64
		if err := rows.Scan(&f.Watch, &f.Rel, &f.Action, &f.Error, &at); err != nil {
			return 0, nil, err
		}
		f.At = time.UnixMilli(at)
		out = append(out, f)
	}
	return n, out, rows.Err()
}
