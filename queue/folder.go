package queue

import (
	"context"
	"fmt"
)

// ActiveInFolder reports whether a file directly in folder dir of watch
// (slash-separated, "." for the root) has a pending or leased job.
func (q *Queue) ActiveInFolder(ctx context.Context, watch, dir string) (bool, error) {
	prefix := dir + "/"
	if dir == "." || dir == "" {
		prefix = ""
	}
	var n int
	// substr and length count characters, so the prefix matches non-ASCII
	// folder names too; instr finds no further "/" for a direct child.
	err := q.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE watch = ?1 AND state IN ('pending', 'leased')
		AND substr(rel, 1, length(?2)) = ?2 AND instr(substr(rel, length(?2) + 1), '/') = 0`, watch, prefix).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("queue: jobs in folder: %w", err)
	}
	return n > 0, nil
}
