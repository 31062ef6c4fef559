package queue

import (
	"context"
	"fmt"

	"github.com/dropsync/dropsync/internal/fsid"
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

// Settled reports whether the file rel of watch, as fp says it is now, has
// had its outcome: delivered as it is (its delivery record has fp's whole
// fingerprint: size, mtime, inode, device and change time) or failed as
// it is (a failed job of that fingerprint). A file rewritten in place with
// its size and mtime put back has a new change time: not settled. A folder's ready marker stays while a file of its batch is not
// settled.
func (q *Queue) Settled(ctx context.Context, watch, rel string, fp fsid.Fingerprint) (bool, error) {
	var n int
	err := q.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM file_state WHERE watch = ?1 AND rel = ?2 AND size = ?3 AND mtime = ?4 AND inode = ?5 AND dev = ?6 AND ctime = ?7)
		OR EXISTS (SELECT 1 FROM jobs WHERE watch = ?1 AND rel = ?2 AND state = 'failed' AND size = ?3 AND mtime = ?4 AND inode = ?5 AND dev = ?6 AND ctime = ?7)`,
		watch, rel, fp.Size, fp.ModTime, int64(fp.Inode), int64(fp.Dev), fp.CTime).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("queue: settled: %w", q.explain(err))
	}
	return n == 1, nil
}
