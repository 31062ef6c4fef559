package queue

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// SendingFileName is the file in the state directory where the daemon
// marks the leases that have sent a whole file (MarkSent).
const SendingFileName = "dropsync.sending"

// sendingRecord is one slot of the sending file: job id, attempts and
// started_at (unix ms) of the lease, little-endian. The three together
// name one lease: a job's next lease has more attempts and a later start.
const sendingRecord = 24

// sending is the daemon's sending file. A slot belongs to one job runner,
// which runs one job at a time, so slots need no lock.
type sending struct {
	f *os.File
}

func openSending(stateDir string) (*sending, error) {
	f, err := os.OpenFile(filepath.Join(stateDir, SendingFileName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	return &sending{f: f}, nil
}

// marked returns the leases the file names.
func (s *sending) marked() (map[[3]int64]bool, error) {
	b, err := io.ReadAll(io.NewSectionReader(s.f, 0, 1<<30))
	if err != nil {
		return nil, err
	}
	m := map[[3]int64]bool{}
	for ; len(b) >= sendingRecord; b = b[sendingRecord:] {
		var k [3]int64
		for i := range k {
			k[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
		}
		if k[0] != 0 {
			m[k] = true
		}
	}
	return m, nil
}

// MarkSent records, in slot (the job runner's number, from 0), that the
// lease of j is about to send the last byte of its file: should the
// daemon be killed before the attempt's outcome is recorded, the next
// start counts that lease as an ambiguous attempt (ClassAmbiguous) and
// asks the server before sending the file again. A lease without the mark
// sent no whole file and simply runs again. The mark is one write into
// the page cache, without a sync: it outlives a killed process, not a
// power loss, after which the file may be sent again (a duplicate version
// at worst, never a loss). Only the daemon's queue (Open) marks; for any
// other it does nothing.
func (q *Queue) MarkSent(slot int, j *Job) error {
	if q.sending == nil || slot < 0 {
		return nil
	}
	var b [sendingRecord]byte
	binary.LittleEndian.PutUint64(b[0:], uint64(j.ID))
	binary.LittleEndian.PutUint64(b[8:], uint64(j.Attempts))
	binary.LittleEndian.PutUint64(b[16:], uint64(j.StartedAt.UnixMilli()))
	if _, err := q.sending.f.WriteAt(b[:], int64(slot)*sendingRecord); err != nil {
		return fmt.Errorf("queue: mark the upload as sent: %w", err)
	}
	return nil
}

// recoverLeases returns the jobs a stopped daemon held to pending. A
// lease marked as having sent its whole file (MarkSent) is counted as an
// ambiguous attempt (ClassAmbiguous, and ClassKilled for the next attempt
// to judge): the daemon may have been killed
// after the server stored the file and before the delivery was recorded,
// and its next attempt asks the server first instead of sending the file
// again. A lease without the mark (killed right after its claim, while
// hashing, in the middle of the body) is not: asking the server then
// would take a file of the same name and size already there for the
// upload, and the new content would never be sent.
func (q *Queue) recoverLeases(ctx context.Context) error {
	var marked map[[3]int64]bool
	if q.sending != nil {
		var err error
		if marked, err = q.sending.marked(); err != nil {
			return fmt.Errorf("read %s: %w", SendingFileName, err)
		}
	}
	return q.inTx(ctx, func(tx *sql.Tx) error {
		for k := range marked {
			for _, class := range []string{ClassAmbiguous, ClassKilled} {
				if _, err := tx.ExecContext(ctx, `INSERT INTO job_attempts (job_id, class, size, mtime, n)
					SELECT id, ?, size, mtime, 1 FROM jobs WHERE id = ? AND state = 'leased' AND attempts = ? AND started_at = ? AND gone = 0
					ON CONFLICT (job_id, class) DO UPDATE SET n = CASE WHEN size = excluded.size AND mtime = excluded.mtime THEN n + 1 ELSE 1 END,
					size = excluded.size, mtime = excluded.mtime`, class, k[0], k[1], k[2]); err != nil {
					return err
				}
			}
		}
		_, err := tx.ExecContext(ctx, `UPDATE jobs SET state = 'pending', bytes_done = 0 WHERE state = 'leased'`)
		return err
	})
}

func (s *sending) close() error {
	if s == nil {
		return nil
	}
	return s.f.Close()
}
