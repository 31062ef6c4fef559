// Package queue is dropsync's durable work list, in SQLite: jobs with
// explicit states, the per-file delivery state, upload sessions for
// resumable uploads, per-target throttle pauses and health, and attempts
// counted per kind of failure. Jobs of a target that is down or has its
// credentials rejected are never claimed, except one by the probe.
//
// A job is one path that needs attention. Jobs move pending → leased →
// done | failed; events for a path coalesce into its one pending job, and a
// path is never leased twice (a partial unique index enforces both). Leases
// held when the process died return to pending at the next Open. The queue
// stores references and fingerprints, never file bytes.
//
// The database runs in WAL mode with a busy timeout and immediate
// transactions; a daemon does all its writing on a single connection, and
// keeps one more for checkpoints (checkpoint.go: a commit never waits for
// a checkpoint's fsyncs, and the log stays bounded) and a reader for the
// look-ups that must not queue behind the writer (names.go). The hot path
// (enqueue, claim, complete) runs on the driver's connection with
// statements prepared once, without database/sql's per-query goroutines
// (conn.go). Completions recorded by several workers at once share one
// transaction (group commit); each caller returns only after the commit
// that holds its completion, and a completion that fails is retried alone
// so it never undoes the others. A worker's completion may claim its next
// job in the same transaction (CompleteNext). A claim reads each leased
// job's delivery state and counted attempts in the same transaction. Another process
// that changes what a daemon must do (RetryFailed) tells it through a file
// in the state directory (Changes), so an idle daemon polls nothing.
//
// Invariants of access: only the daemon (Open) creates and migrates the
// database. OpenExisting (queue retry, forget) writes through the same
// methods the daemon uses but never migrates; OpenReadOnly (status, queue
// list) opens it with mode=ro and never writes. Both refuse a schema other
// than their own. Every lookup on the hot path and the delete path uses an
// index (TestLookupsUseIndexes), and no query of a job's state reads every
// job (TestJobQueriesUseIndexes). A database error that needs the operator
// (full disk, damaged file, held by another program, permissions, I/O) is
// classified in one place (explain) and names the file and the next step;
// a held database is reported after at most busyTimeout. Nothing grows
// without bound: Prune applies the retention policy (see Retention for what
// is kept forever and why).
package queue

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/mattn/go-sqlite3" // the SQLite driver

	"github.com/dropsync/dropsync/internal/fsid"
	"github.com/dropsync/dropsync/targets"
)

// Job states.
const (
	Pending = "pending"
	Leased  = "leased"
	Done    = "done"
	Failed  = "failed"
)

// FileName is the database's name inside the state directory.
const FileName = "dropsync.db"

// Queue is the SQLite-backed queue. It is safe for concurrent use.
type Queue struct {
	db   *sql.DB
	path string // the database file, absolute, for messages
	now  func() time.Time
	// horizon is the longest wait the queue is given, in ms; 0: none
	// (SetHorizon).
	horizon atomic.Int64

	cacheMu sync.Mutex
	cache   stmtCache // the hot path's statements, prepared on the connection (conn.go)

	daemon bool          // opened by Open: the connection leaves checkpoints to ckpt
	ckpt   *checkpointer // the daemon's checkpoints (checkpoint.go); nil otherwise
	read   *reader       // the daemon's look-ups beside the writer (names.go); nil otherwise

	group groupCommit // shares transactions between concurrent Complete and ClaimN calls

	nameSeq [nameBuckets]atomic.Uint64 // name records per bucket of keys (names.go)

	warnings []error // set by migrate; see StartWarnings

	file os.FileInfo // the database file the daemon opened; see Ping

	// sessionsMaybe is false only while no upload session can exist: a
	// daemon's Open found none and none was saved since (Save sets it
	// before it writes). A completion then skips qDropSession, a
	// statement per small file that never finds a row.
	sessionsMaybe atomic.Bool

	sending *sending // the daemon's marks of leases that sent a whole file (MarkSent); nil otherwise
}

// Hot statements, prepared once when the queue opens: preparing is most of
// SQLite's cost for such short statements. A statement that reads more
// than one table writes each parameter it compares with = as +?: SQLite
// otherwise may let its plan depend on the value bound, and then compiles
// it again every time the driver binds its parameters, that is at every
// run (TestHotStatementsAreNotCompiledAgain).
const (
	// qLookup reads everything Enqueue decides an item by, in one
	// statement: the path's active job (id 0: none); whether the path was
	// delivered to the item's target, and as what; the path's failed jobs
	// (0: none, 1: some, 2: one of them failed with the item's very state,
	// gone flag and fingerprint); and the largest job id with counted
	// attempts (qNewJobAttempts). Each is looked up by an index.
	qLookup = `SELECT IFNULL(a.id, 0),
		f.rowid IS NOT NULL, IFNULL(f.size, 0), IFNULL(f.mtime, 0), IFNULL(f.inode, 0), IFNULL(f.dev, 0), IFNULL(f.ctime, 0), IFNULL(f.moved_away, 0),
		IFNULL((SELECT MAX(CASE WHEN gone = ?4 AND size = ?5 AND mtime = ?6 AND inode = ?7 AND dev = ?8 AND ctime = ?9 THEN 2 ELSE 1 END)
			FROM jobs WHERE watch = +?1 AND rel = +?2 AND state = 'failed'), 0),
		IFNULL((SELECT MAX(job_id) FROM job_attempts), 0)
		FROM (SELECT 1)
		LEFT JOIN jobs a ON a.watch = +?1 AND a.rel = +?2 AND a.state IN ('pending', 'leased')
		LEFT JOIN file_state f ON f.watch = +?1 AND f.rel = +?2 AND f.target = +?3`
	// qCoalesce merges an event into the active job. A changed file marks a
	// leased job to run again, and gives a pending one a fresh start (no
	// backoff inherited from the old content's failures).
	qCoalesce = `UPDATE jobs SET
		dirty = CASE WHEN state = 'leased' AND (gone != ?1 OR size != ?2 OR mtime != ?3 OR inode != ?4 OR dev != ?9 OR ctime != ?10) THEN 1 ELSE dirty END,
		not_before = CASE WHEN state = 'pending' AND (gone != ?1 OR size != ?2 OR mtime != ?3 OR inode != ?4 OR dev != ?9 OR ctime != ?10) THEN 0 ELSE not_before END,
		attempts = CASE WHEN state = 'pending' AND (gone != ?1 OR size != ?2 OR mtime != ?3 OR inode != ?4 OR dev != ?9 OR ctime != ?10) THEN 0 ELSE attempts END,
		gone = ?1, size = ?2, mtime = ?3, inode = ?4, dev = ?9, ctime = ?10, target = ?5, updated_at = ?6, ord = ?8 WHERE id = ?7`
	qDropFailed = `DELETE FROM jobs WHERE watch = ? AND rel = ? AND state = 'failed'`
	// qNewJobAttempts forgets attempts counted for a job id that a new job
	// takes again: SQLite gives a new row the largest id + 1, so the id of
	// a job deleted (forgotten, replaced, pruned) comes back, and the new
	// job must start with no attempts counted. Enqueue runs it only when
	// such attempts can exist: the new id is not above every job id that
	// has counted attempts (qLookup read that in the same transaction).
	qNewJobAttempts = `DELETE FROM job_attempts WHERE job_id = ?`
	qInsert         = `INSERT INTO jobs (watch, rel, target, state, gone, size, mtime, inode, dev, ctime, created_at, updated_at, ord) VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	// Claiming selects the ids, then leases each by primary key: one
	// UPDATE … WHERE id IN (subquery) costs SQLite about ten times more.
	// jobs_claim (covering, claimIndex) walks the pending jobs in claim
	// order and stops at the limit; without INDEXED BY, SQLite may pick
	// another index and sort every pending job on each claim. A paused or
	// unhealthy target is looked up by its key for the jobs walked (NOT IN
	// built its list on every claim), and only when some target is paused
	// or unhealthy at all: the first two EXISTS name no column of jobs,
	// so SQLite runs them once per statement, and while both are false
	// (every target up, none paused) the walk looks nothing up per job.
	// A wait ending after ?2 (now plus the horizon, see SetHorizon) is
	// over: the clock stepped back since.
	qReady = `SELECT id FROM jobs INDEXED BY jobs_claim WHERE state = 'pending' AND (not_before <= ?1 OR not_before > ?2)
				AND (NOT EXISTS (SELECT 1 FROM target_pauses WHERE until > ?1 AND until <= ?2)
					AND NOT EXISTS (SELECT 1 FROM target_health WHERE state IN ('down', 'credentials rejected'))
				OR NOT EXISTS (SELECT 1 FROM target_pauses p WHERE p.target = jobs.target AND p.until > ?1 AND p.until <= ?2)
					AND NOT EXISTS (SELECT 1 FROM target_health h WHERE h.target = jobs.target AND h.state IN ('down', 'credentials rejected')))
				ORDER BY ord, id LIMIT ?3`
	// A lease is an UPDATE and a read by id: RETURNING would build a
	// temporary table for its one row on every lease. The read joins what
	// the path was last delivered as (fileStateCols, all NULL if never:
	// the flag says which) and the job's counted attempts (one row per
	// kind, or one row of NULLs), each looked up by its key.
	qLease = `UPDATE jobs SET state = 'leased', attempts = attempts + 1, started_at = ?, bytes_done = 0, updated_at = ?
			WHERE id = ? AND state = 'pending'`
	qLeased = `SELECT ` + leasedCols + ` FROM jobs j
			LEFT JOIN file_state f ON f.watch = j.watch AND f.rel = j.rel
			LEFT JOIN job_attempts a ON a.job_id = j.id
			WHERE j.id = +?`
	qRecord = `INSERT INTO file_state (watch, rel, target, size, mtime, inode, dev, ctime, sha256, remote_id, remote_version, remote_name, remote_extra, delivered_at, after_upload)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (watch, rel) DO UPDATE SET target = excluded.target, size = excluded.size, mtime = excluded.mtime, inode = excluded.inode,
				dev = excluded.dev, ctime = excluded.ctime,
				sha256 = excluded.sha256, remote_id = excluded.remote_id, remote_version = excluded.remote_version, remote_name = excluded.remote_name,
				remote_extra = excluded.remote_extra, delivered_at = excluded.delivered_at, after_upload = excluded.after_upload, moved_away = 0`
	qDropSession = `DELETE FROM upload_sessions WHERE watch = ? AND rel = ?`
	qDropJob     = `DELETE FROM jobs WHERE id = ? AND state = 'leased'`
	// qFinish ends a leased job that is not dirty; qRequeue returns a
	// dirty one (an event arrived while it was in flight) to pending with
	// a fresh start. finish runs qFinish first, so the common case is one
	// statement, and learns which it was from the rows changed (RETURNING
	// would build a temporary table for its row). A done job's claim order
	// is cleared: it is never claimed again, and its entry in jobs_claim
	// goes beside the other done jobs' (claimIndex). A failed job keeps
	// its order for RetryFailed.
	qFinish = `UPDATE jobs SET state = ?1, ord = CASE WHEN ?1 = 'done' THEN '' ELSE ord END, last_error = ?2, updated_at = ?3
		WHERE id = ?4 AND state = 'leased' AND dirty = 0`
	qRequeue = `UPDATE jobs SET state = 'pending', attempts = 0, not_before = 0, dirty = 0, last_error = ?, updated_at = ?
		WHERE id = ? AND state = 'leased' AND dirty != 0`
	qFileState = `SELECT ` + fileStateCols + ` FROM file_state WHERE watch = ? AND rel = ?`
	qProgress  = `UPDATE jobs SET bytes_done = ? WHERE id = ? AND state = 'leased'`
)

// Lookups of the delete path.
const (
	qRemoteShared = `SELECT COUNT(*) FROM file_state WHERE target = ? AND remote_id = ? AND NOT (watch = ? AND rel = ?)`
	qExpandDir    = `SELECT rel FROM file_state WHERE watch = ?1 AND rel > ?3 AND rel < ?4 AND target = ?2 AND moved_away = 0`
)

// claimLimits are the limits qReady is also prepared with, written into
// the statement: SQLite runs it about three times faster with LIMIT 4 than
// with LIMIT ? bound to 4 (6 vs 17 µs with 10,000 pending jobs). A claim of
// n uses the smallest one of at least n and leases the first n ids.
var claimLimits = []int{1, 2, 4, 8, 16, 32, 64}

// readyIDs[i] is qReady with the limit claimLimits[i] written in;
// readyCounts[i][k] is readyIDs[i] with a second column: how many jobs are
// ready up to the limit claimLimits[k]. SQLite counts them once per
// statement (the subquery names no column of the row): a claim ahead
// learns in the statement that reads the ids whether enough ready jobs
// stay behind the ones it leases (Want.Keep), without a row per job.
var readyIDs, readyCounts = func() (ids []string, counts [][]string) {
	for _, n := range claimLimits {
		ids = append(ids, readySQL(n, 0, false))
		var row []string
		for _, k := range claimLimits {
			row = append(row, readySQL(n, k, true))
		}
		counts = append(counts, row)
	}
	return ids, counts
}()

// readyQuery is the claim's statement for up to n ids, with the count of
// ready jobs up to k (counted) or without: the prepared one whose limits
// are the smallest of claimLimits of at least n and k, or, above them, one
// with n and k written in.
func readyQuery(n, k int, counted bool) string {
	i, j := slices.IndexFunc(claimLimits, func(l int) bool { return l >= n }), slices.IndexFunc(claimLimits, func(l int) bool { return l >= k })
	switch {
	case !counted && i >= 0:
		return readyIDs[i]
	case counted && i >= 0 && j >= 0:
		return readyCounts[i][j]
	}
	return readySQL(n, k, counted)
}

// readySQL is qReady with the limit n written in and, if counted, the
// count of ready jobs up to k as a second column.
func readySQL(n, k int, counted bool) string {
	limited := func(l int) string { return strings.Replace(qReady, "LIMIT ?3", "LIMIT "+strconv.Itoa(l), 1) }
	if !counted {
		return limited(n)
	}
	return strings.Replace(limited(n), "SELECT id FROM", "SELECT id, (SELECT COUNT(*) FROM ("+limited(k)+")) FROM", 1)
}

// SetClock replaces the queue's clock, for tests.
func (q *Queue) SetClock(now func() time.Time) { q.now = now }

// SetHorizon sets the longest wait the queue is given (a retry's backoff, a
// target's pause, a settle): a job's not_before or a pause that ends
// further ahead than h from now can only have been set before the wall
// clock stepped back (NTP, a VM restored from a snapshot), and is taken
// as over, so a step back does not stretch a wait by its size. 0 (the
// default) takes every time as it is. Safe while claims run.
func (q *Queue) SetHorizon(h time.Duration) { q.horizon.Store(int64(h / time.Millisecond)) }

// latest is the end of the horizon from now (unix ms): waits ending after
// it are over.
func (q *Queue) latest(now int64) int64 {
	h := q.horizon.Load()
	if h <= 0 {
		return math.MaxInt64
	}
	return now + h
}

// Close closes the database.
func (q *Queue) Close() error {
	q.ckpt.close()
	q.read.close()
	q.closeStmts()
	return errors.Join(q.db.Close(), q.sending.close())
}

// Ping checks that the database answers and, for the daemon's queue, that
// its file is still the one opened: SQLite goes on writing to a file
// deleted (or replaced: a backup restored over it) under it without an
// error, into records the next start never sees, so that every file
// delivered meanwhile would be sent again.
func (q *Queue) Ping(ctx context.Context) error {
	var n int
	if err := q.explain(q.db.QueryRowContext(ctx, `SELECT 1`).Scan(&n)); err != nil {
		return err
	}
	if q.file != nil {
		if fi, err := os.Stat(q.path); err != nil || !os.SameFile(fi, q.file) {
			return fmt.Errorf("the database file %s was deleted or replaced while dropsync had it open: deliveries recorded since are lost; restart dropsync", q.path)
		}
	}
	return nil
}

// migrate brings the schema to this dropsync's, then writes the state
// CHECK as comparisons (checksAsComparisons) and gives jobs this
// dropsync's indexes (jobIndexes), each best effort.
func (q *Queue) migrate(ctx context.Context) error {
	if err := q.inTx(ctx, func(tx *sql.Tx) error {
		var v int
		if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
			return err
		}
		if v > len(migrations) {
			return fmt.Errorf("queue: the database %s is newer than this dropsync understands (schema %d, this dropsync %d): upgrade dropsync", q.path, v, len(migrations))
		}
		for i := v; i < len(migrations); i++ {
			if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
				return fmt.Errorf("queue: migration %d: %w", i+1, err)
			}
		}
		_, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, len(migrations)))
		return err
	}); err != nil {
		return err
	}
	// Best effort: an SQLite that refuses writable_schema (built with
	// SQLITE_DBCONFIG_DEFENSIVE on), or a full disk, costs only the speed
	// these would gain; StartWarnings says so.
	if err := q.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, checksAsComparisons)
		return err
	}); err != nil {
		q.warnings = append(q.warnings, fmt.Errorf("queue: the state CHECK of %s stays as it was (claims are slower): %w", q.path, q.explain(err)))
	}
	if err := q.inTx(ctx, func(tx *sql.Tx) error { return reshapeIndexes(ctx, tx) }); err != nil {
		q.warnings = append(q.warnings, fmt.Errorf("queue: the job indexes of %s stay as they were (claims and completions are slower): %w", q.path, q.explain(err)))
	}
	return nil
}

// StartWarnings returns what opening the queue tried and could not do
// without anything failing but speed (see migrate): the daemon logs them.
func (q *Queue) StartWarnings() []error { return q.warnings }

// reshapeIndexes makes each of jobIndexes as given and drops
// dropIndexes, in tx; it changes nothing when they are so already.
func reshapeIndexes(ctx context.Context, tx *sql.Tx) error {
	for name, want := range jobIndexes {
		var def string
		err := tx.QueryRowContext(ctx, `SELECT sql FROM sqlite_schema WHERE type = 'index' AND name = ?`, name).Scan(&def)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if def == want {
			continue
		}
		if _, err := tx.ExecContext(ctx, `DROP INDEX IF EXISTS `+name+`; `+want); err != nil {
			return err
		}
	}
	for _, name := range dropIndexes {
		if _, err := tx.ExecContext(ctx, `DROP INDEX IF EXISTS `+name); err != nil {
			return err
		}
	}
	return nil
}

// inTx runs fn in an immediate transaction, rolling back on error or panic.
// Cancellation of ctx does not interrupt a transaction half-way: it is
// checked before starting. Like hotTx, the transaction holds the
// checkpointer's gate (see checkpoint.go), taken once the connection is
// had and before the transaction begins; the checkpointer hears of the
// commit once both are released.
func (q *Queue) inTx(ctx context.Context, fn func(*sql.Tx) error) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	defer func() { err = q.explain(err) }()
	if err := q.gatedTx(context.WithoutCancel(ctx), fn); err != nil {
		return err
	}
	q.ckpt.committed()
	return nil
}

// gatedTx is inTx's transaction, on a connection of the pool, under the
// checkpointer's gate.
func (q *Queue) gatedTx(ctx context.Context, fn func(*sql.Tx) error) (err error) {
	sc, err := q.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("queue: begin: %w", err)
	}
	defer sc.Close()
	q.ckpt.enter()
	defer q.ckpt.leave()
	tx, err := sc.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("queue: begin: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			tx.Rollback()
			panic(p)
		}
		if err != nil {
			tx.Rollback()
		}
	}()
	if err = fn(tx); err != nil {
		return err
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("queue: commit: %w", err)
	}
	return nil
}

func ms(t time.Time) int64 { return t.UnixMilli() }

// Item is one path to look at, as the watcher saw it.
type Item struct {
	Watch  string
	Rel    string
	Target string
	FP     fsid.Fingerprint
	Gone   bool // the file was deleted (only sent when deletes propagate)
	// Dir, with Gone: a folder was deleted; every file delivered from
	// below it (and not moved away by dropsync) gets a deletion job.
	Dir bool
	// AfterUpload says the watch moves or deletes delivered files: a
	// delivered, unchanged file still present needs a job to finish that.
	AfterUpload bool
	// Order is the watch's claim order: oldest (by mtime), name, or none
	// (by arrival, also for "").
	Order string
}

// enqueueChunk is how many items one Enqueue transaction records: a large
// burst takes several, so that workers' claims and completions are not
// held up behind it.
const enqueueChunk = 256

// Enqueue records a burst of items, in transactions of up to enqueueChunk
// items, and returns how many became (or updated) a pending job. An item is
// dropped when nothing needs doing: its fingerprint equals what was last
// delivered, it equals the fingerprint of a failed job for the same path (a
// failure is reported once, not retried in a loop; a changed file gets a
// new attempt), or it is a deletion of a path never delivered. An item for a
// path with an active job coalesces into it; if that job is in flight it is
// marked to run again. On error, the chunks before the failing one are
// recorded; enqueueing the same items again is harmless.
func (q *Queue) Enqueue(ctx context.Context, items []Item) (int, error) {
	total := 0
	for len(items) > 0 {
		chunk := items[:min(len(items), enqueueChunk)]
		items = items[len(chunk):]
		n := 0
		now := ms(q.now())
		err := q.hotTx(ctx, func(c *conn) error {
			n = 0
			for _, it := range expand(c, chunk) {
				if it.err != nil {
					return fmt.Errorf("queue: enqueue %s: %w", it.Rel, it.err)
				}
				changed, err := enqueueOne(c, it.Item, now)
				if err != nil {
					return fmt.Errorf("queue: enqueue %s: %w", it.Rel, err)
				}
				if changed {
					n++
				}
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

type expanded struct {
	Item
	err error
}

// expand replaces a deleted folder by deletions of the files delivered from
// below it.
func expand(c *conn, items []Item) []expanded {
	out := make([]expanded, 0, len(items))
	for _, it := range items {
		if !it.Dir {
			out = append(out, expanded{Item: it})
			continue
		}
		// The paths below rel/ are exactly those from "rel/" up to "rel0"
		// ('0' follows '/' in byte order, SQLite's default collation), a
		// range the primary key seeks.
		prefix := it.Rel + "/"
		err := c.query(qExpandDir, []any{it.Watch, it.Target, prefix, it.Rel + "0"}, func(scan func(...any) error) error {
			var rel string
			if err := scan(&rel); err != nil {
				return err
			}
			out = append(out, expanded{Item: Item{Watch: it.Watch, Rel: rel, Target: it.Target, Gone: true}})
			return nil
		})
		if err != nil {
			return append(out, expanded{Item: it, err: err})
		}
	}
	return out
}

func enqueueOne(c *conn, it Item, now int64) (bool, error) {
	var id, inode, dev, attempted int64
	var fp fsid.Fingerprint
	var delivered, movedAway, failed int
	err := c.queryRow(qLookup, []any{it.Watch, it.Rel, it.Target, b2i(it.Gone), it.FP.Size, it.FP.ModTime, int64(it.FP.Inode), int64(it.FP.Dev), it.FP.CTime},
		&id, &delivered, &fp.Size, &fp.ModTime, &inode, &dev, &fp.CTime, &movedAway, &failed, &attempted)
	if err != nil {
		return false, err
	}
	if id != 0 {
		_, err = c.exec(qCoalesce, b2i(it.Gone), it.FP.Size, it.FP.ModTime, int64(it.FP.Inode), it.Target, now, id, ordKey(it, now), int64(it.FP.Dev), it.FP.CTime)
		return err == nil, err
	}
	fp.Inode, fp.Dev = uint64(inode), uint64(dev)
	if it.Gone && (delivered == 0 || movedAway != 0) {
		return false, nil // nothing remote to delete, or dropsync moved the file itself
	}
	if !it.Gone && delivered != 0 && fp == it.FP && (!it.AfterUpload || movedAway != 0) {
		return false, nil // unchanged since delivery (and after_upload done)
	}
	if failed == 2 {
		return false, nil // this very state already failed; reported once
	}
	if failed > 0 {
		if _, err = c.exec(qDropFailed, it.Watch, it.Rel); err != nil {
			return false, err
		}
	}
	if id, err = c.insert(qInsert,
		it.Watch, it.Rel, it.Target, b2i(it.Gone), it.FP.Size, it.FP.ModTime, int64(it.FP.Inode), int64(it.FP.Dev), it.FP.CTime, now, now, ordKey(it, now)); err != nil {
		return false, err
	}
	if id <= attempted {
		_, err = c.exec(qNewJobAttempts, id)
	}
	return err == nil, err
}

// ordKey is the claim-order key of an item enqueued at now (unix ms).
func ordKey(it Item, now int64) string {
	switch it.Order {
	case "name":
		return "n" + it.Rel
	case "oldest":
		if !it.Gone {
			return fmt.Sprintf("t%015d", max(it.FP.ModTime/1e6, 0))
		}
	}
	return fmt.Sprintf("t%015d", now)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Job is one row of the jobs table.
type Job struct {
	ID        int64            `json:"id"`
	Watch     string           `json:"watch"`
	Rel       string           `json:"path"`
	Target    string           `json:"target"`
	State     string           `json:"state"`
	Gone      bool             `json:"deleted,omitempty"`
	FP        fsid.Fingerprint `json:"-"`
	Attempts  int              `json:"attempts"`
	NotBefore time.Time        `json:"not_before,omitzero"`
	LastError string           `json:"last_error,omitempty"`
	BytesDone int64            `json:"bytes_done,omitempty"`
	StartedAt time.Time        `json:"started_at,omitzero"`
	UpdatedAt time.Time        `json:"updated_at"`
	// Prev is what the path was last delivered as (nil: never), read in
	// the transaction that leased the job (Claim, ClaimN). Only the job's
	// own outcome changes it while the job is leased.
	Prev *FileState `json:"-"`
	// Counted are the job's attempts counted per kind of failure
	// (CountAttempt), read in the same transaction; only the job's own
	// worker changes them while the job is leased.
	Counted []Counted `json:"-"`

	owner *ownerReading // its remote name's owner as its claim read it (Want.NameKey)
}

const jobCols = `id, watch, rel, target, state, gone, size, mtime, inode, dev, ctime, attempts, not_before, last_error, bytes_done, started_at, updated_at`

// fileStateCols are the columns of a file_state row that fileStateRow
// scans.
const fileStateCols = `watch, rel, target, size, mtime, inode, dev, ctime, sha256, remote_id, remote_version, remote_name, remote_extra, delivered_at,
	after_upload, moved_away`

// leasedCols are qLeased's columns: the job's (jobCols), whether its path
// was delivered and its file state (fileStateCols, zero values if not),
// and whether a counted attempt follows and its class, size, mtime and n.
const leasedCols = `j.id, j.watch, j.rel, j.target, j.state, j.gone, j.size, j.mtime, j.inode, j.dev, j.ctime, j.attempts, j.not_before,
	j.last_error, j.bytes_done, j.started_at, j.updated_at,
	f.rowid IS NOT NULL, IFNULL(f.watch, ''), IFNULL(f.rel, ''), IFNULL(f.target, ''), IFNULL(f.size, 0), IFNULL(f.mtime, 0), IFNULL(f.inode, 0),
	IFNULL(f.dev, 0), IFNULL(f.ctime, 0), IFNULL(f.sha256, ''), IFNULL(f.remote_id, ''), IFNULL(f.remote_version, ''), IFNULL(f.remote_name, ''),
	IFNULL(f.remote_extra, ''), IFNULL(f.delivered_at, 0), IFNULL(f.after_upload, ''), IFNULL(f.moved_away, 0),
	a.job_id IS NOT NULL, IFNULL(a.class, ''), IFNULL(a.size, 0), IFNULL(a.mtime, 0), IFNULL(a.n, 0)`

type scanner interface{ Scan(...any) error }

// jobRow is a row of jobCols as scanned: dest lists where each column
// goes, job converts them.
type jobRow struct {
	j                                Job
	gone                             int
	inode, dev, nb, started, updated int64
}

func (r *jobRow) dest() []any {
	j := &r.j
	return []any{&j.ID, &j.Watch, &j.Rel, &j.Target, &j.State, &r.gone, &j.FP.Size, &j.FP.ModTime, &r.inode, &r.dev, &j.FP.CTime, &j.Attempts, &r.nb,
		&j.LastError, &j.BytesDone, &r.started, &r.updated}
}

func (r *jobRow) job() *Job {
	j := r.j
	j.Gone, j.FP.Inode, j.FP.Dev = r.gone != 0, uint64(r.inode), uint64(r.dev)
	if r.nb > 0 {
		j.NotBefore = time.UnixMilli(r.nb)
	}
	if r.started > 0 {
		j.StartedAt = time.UnixMilli(r.started)
	}
	j.UpdatedAt = time.UnixMilli(r.updated)
	return &j
}

func scanJob(s scanner) (*Job, error) {
	var r jobRow
	if err := s.Scan(r.dest()...); err != nil {
		return nil, err
	}
	return r.job(), nil
}

// fileStateRow is a row of fileStateCols as scanned: dest lists where each
// column goes, state converts them.
type fileStateRow struct {
	s                     FileState
	inode, dev, delivered int64
	extra                 string
	movedAway             int
}

func (r *fileStateRow) dest() []any {
	s := &r.s
	return []any{&s.Watch, &s.Rel, &s.Target, &s.FP.Size, &s.FP.ModTime, &r.inode, &r.dev, &s.FP.CTime, &s.SHA256,
		&s.Remote.ID, &s.Remote.Version, &s.Remote.Name, &r.extra, &r.delivered, &s.Intent, &r.movedAway}
}

func (r *fileStateRow) state() (*FileState, error) {
	s := r.s
	s.FP.Inode, s.FP.Dev, s.MovedAway = uint64(r.inode), uint64(r.dev), r.movedAway != 0
	s.DeliveredAt = time.UnixMilli(r.delivered)
	if r.extra != "" {
		if err := json.Unmarshal([]byte(r.extra), &s.Remote.Extra); err != nil {
			return nil, fmt.Errorf("queue: file state extra: %w", err)
		}
	}
	return &s, nil
}

// Claim leases the next ready job: pending, due, and not for a paused
// target nor one that is down or has its credentials rejected. It returns nil when none is ready.
func (q *Queue) Claim(ctx context.Context) (*Job, error) {
	js, err := q.ClaimN(ctx, 1)
	if err != nil || len(js) == 0 {
		return nil, err
	}
	return js[0], nil
}

// ClaimN leases up to n ready jobs in one transaction, which it shares with
// completions recorded at the same moment, in each watch's order (see
// Item.Order); between watches, time-ordered backlogs (oldest, none)
// interleave by time and go before name-ordered ones.
func (q *Queue) ClaimN(ctx context.Context, n int) ([]*Job, error) {
	js, _, err := q.ClaimAhead(ctx, Want{Now: n})
	return js, err
}

// A Want is what a claim asks for: Now jobs for workers free to start them
// at once, and up to Ahead more for workers that would wait for one of the
// others to finish (claimed ahead of their turn). Jobs ahead are leased
// only from a backlog that keeps more than Keep ready jobs behind them, so
// a backlog of up to Now+Keep jobs is claimed strictly in order as workers
// free up, and of a larger one at most Ahead jobs go before a job that
// arrives later but comes first in its watch's order.
type Want struct {
	Now, Ahead, Keep int
	// NameKey, if set, gives the target and remote name key of a
	// claimed job (ok false: none): the claim reads the key's recorded
	// owner in its own transaction, for ClaimedOwner.
	NameKey func(j *Job) (target, key string, ok bool)
}

// ClaimAhead is ClaimN for a Want. held reports that ready jobs were left
// for later by the Keep rule: they wait for a worker to free up, not for
// time to pass.
func (q *Queue) ClaimAhead(ctx context.Context, w Want) (js []*Job, held bool, err error) {
	if err := ctx.Err(); err != nil {
		return nil, false, fmt.Errorf("queue: claim: %w", err)
	}
	op := &groupOp{apply: func(c *conn) (err error) {
		js, held, err = q.claim(c, w)
		return err
	}}
	q.group.run(op, func(b []*groupOp) { q.commitGroup(ctx, b) })
	if op.err != nil {
		return nil, false, fmt.Errorf("queue: claim: %w", op.err)
	}
	return js, held, nil
}

// claim leases the ready jobs w asks for in c's transaction, and reads
// their delivery state.
func (q *Queue) claim(c *conn, w Want) (js []*Job, held bool, err error) {
	limit := w.Now + w.Ahead
	if w.Ahead > 0 {
		limit += w.Keep
	}
	if limit <= 0 {
		return nil, false, nil
	}
	now := ms(q.now())
	// The ids of up to Now+Ahead ready jobs, and for a claim ahead how
	// many are ready up to limit, which decides how many of them to lease.
	most := w.Now + w.Ahead
	query := readyQuery(most, limit, w.Ahead > 0)
	var ids []int64
	ready := 0
	err = c.query(query, []any{now, q.latest(now)}, func(scan func(...any) error) error {
		var id int64
		if len(ids) >= most {
			return nil
		}
		var err error
		if w.Ahead > 0 {
			err = scan(&id, &ready)
		} else {
			err = scan(&id)
		}
		if err != nil {
			return err
		}
		ids = append(ids, id)
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	n := min(len(ids), w.Now)
	if w.Ahead > 0 {
		ready = min(ready, limit)
		if extra := ready - w.Now - w.Keep; extra > 0 {
			n += min(extra, w.Ahead)
		}
	}
	held = w.Ahead > 0 && ready > n
	js = make([]*Job, 0, n)
	for _, id := range ids[:n] {
		j, err := q.lease(c, id, now)
		if err != nil {
			return nil, false, err
		}
		if w.NameKey != nil {
			if err := q.readOwner(c, j, w.NameKey); err != nil {
				return nil, false, err
			}
		}
		js = append(js, j)
	}
	return js, held, nil
}

// lease leases the pending job id in c's transaction, with what its path
// was last delivered as and its counted attempts.
func (q *Queue) lease(c *conn, id, now int64) (*Job, error) {
	n, err := c.exec(qLease, now, now, id)
	if err == nil && n != 1 {
		err = sql.ErrNoRows
	}
	if err != nil {
		return nil, err
	}
	var j *Job
	var jr jobRow
	var fr fileStateRow
	var a Counted
	var delivered, counted int
	dest := append(append(append(jr.dest(), &delivered), fr.dest()...), &counted, &a.Class, &a.Size, &a.MTime, &a.N)
	err = c.query(qLeased, []any{id}, func(scan func(...any) error) (err error) {
		if err := scan(dest...); err != nil {
			return err
		}
		if j == nil {
			j = jr.job()
			if delivered != 0 {
				if j.Prev, err = fr.state(); err != nil {
					return err
				}
			}
		}
		if counted != 0 {
			j.Counted = append(j.Counted, a)
		}
		return nil
	})
	if err == nil && j == nil {
		err = sql.ErrNoRows
	}
	if err != nil {
		return nil, err
	}
	return j, nil
}

// NextReady returns when the earliest pending job becomes claimable, taking
// target pauses into account (a wait beyond the horizon is over, see
// SetHorizon); ok is false when nothing is pending.
func (q *Queue) NextReady(ctx context.Context) (t time.Time, ok bool, err error) {
	var v sql.NullInt64
	latest := q.latest(ms(q.now()))
	err = q.db.QueryRowContext(ctx, `SELECT MIN(MAX(CASE WHEN j.not_before > ?1 THEN 0 ELSE j.not_before END,
		CASE WHEN COALESCE(p.until, 0) > ?1 THEN 0 ELSE COALESCE(p.until, 0) END)) FROM jobs j
		LEFT JOIN target_pauses p ON p.target = j.target WHERE j.state = 'pending'
		AND j.target NOT IN (SELECT target FROM target_health WHERE state IN ('down', 'credentials rejected'))`, latest).Scan(&v)
	if err != nil || !v.Valid {
		return time.Time{}, false, q.explain(err)
	}
	return time.UnixMilli(v.Int64), true, nil
}

// FileState is what a path was last delivered as.
type FileState struct {
	Watch       string           `json:"watch"`
	Rel         string           `json:"path"`
	Target      string           `json:"target"`
	FP          fsid.Fingerprint `json:"-"`
	SHA256      string           `json:"sha256"`
	Remote      targets.Remote   `json:"remote"`
	DeliveredAt time.Time        `json:"delivered_at"`
	// Intent is the after_upload action (move, delete) recorded with the
	// delivery and not yet done; "" when none is pending.
	Intent string `json:"after_upload,omitempty"`
	// MovedAway: dropsync itself moved or deleted the local file.
	MovedAway bool `json:"moved_away,omitempty"`
}

// Outcome is how a leased job ended.
type Outcome struct {
	// Delivered, if set, is recorded as the path's file state.
	Delivered *FileState
	// Forget removes the path's file state (the remote was deleted, or the
	// local file was moved away after upload).
	Forget bool
	// Intent, with Delivered or on the recorded state, is the after_upload
	// action still to do. It is recorded in the same transaction as the
	// delivery, and the job returns to pending until Recheck (the attempt
	// does not count) instead of ending: the action runs in a later
	// attempt, once the file has held still.
	Intent  string
	Recheck time.Time
	// MovedAway records that the after_upload action is done: the local
	// file was moved or deleted by dropsync, and the intent is cleared.
	MovedAway bool
	// Names are remote name keys (targets.NameKeyer) the delivery owns,
	// recorded in remote_names (names.go).
	Names []string
}

// Complete ends a leased job successfully, atomically with its file state
// and the removal of its upload session, and returns once that is
// committed. If an event arrived while it was in flight, the job returns to
// pending instead of done, and requeued is true.
//
// Completions recorded by several workers at once (and the dispatcher's
// claims) share one transaction (group commit, see groupCommit), and each
// caller learns its outcome only after the shared commit. If any of them
// fails, the shared transaction is rolled back and each runs in a
// transaction of its own, so one failure never undoes the others.
func (q *Queue) Complete(ctx context.Context, j *Job, o Outcome) (requeued bool, err error) {
	requeued, _, err = q.CompleteNext(ctx, j, o, Want{})
	return requeued, err
}

// CompleteNext is Complete, and claims what w asks for (as ClaimAhead
// does) in the same transaction: a worker that records its job's outcome
// takes its next job without another commit, in the claim order.
func (q *Queue) CompleteNext(ctx context.Context, j *Job, o Outcome, w Want) (requeued bool, next []*Job, err error) {
	op := &groupOp{apply: func(c *conn) (err error) {
		requeued, next = false, nil
		if err := q.completeOne(c, j, o, ms(q.now()), &requeued); err != nil {
			return err
		}
		next, _, err = q.claim(c, w)
		return err
	}}
	q.group.run(op, func(b []*groupOp) { q.commitGroup(ctx, b) })
	if op.err != nil {
		return false, nil, fmt.Errorf("queue: complete job %d: %w", j.ID, op.err)
	}
	return requeued, next, nil
}

// commitGroup runs a round of operations in one transaction, or, if that
// fails, each in its own. The round is not cancelled with the context of
// the caller that happens to lead it.
func (q *Queue) commitGroup(ctx context.Context, batch []*groupOp) {
	ctx = context.WithoutCancel(ctx)
	run := func(ops []*groupOp) error {
		return q.hotTx(ctx, func(c *conn) error {
			for _, op := range ops {
				if err := op.apply(c); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if len(batch) > 1 && run(batch) == nil {
		return
	}
	for _, op := range batch {
		op.err = run([]*groupOp{op})
	}
}

// completeOne records one completion in tx.
func (q *Queue) completeOne(c *conn, j *Job, o Outcome, now int64, requeued *bool) error {
	if d := o.Delivered; d != nil {
		extra := ""
		if len(d.Remote.Extra) > 0 {
			b, _ := json.Marshal(d.Remote.Extra)
			extra = string(b)
		}
		if _, err := c.exec(qRecord,
			j.Watch, j.Rel, j.Target, d.FP.Size, d.FP.ModTime, int64(d.FP.Inode), int64(d.FP.Dev), d.FP.CTime, d.SHA256, d.Remote.ID, d.Remote.Version, d.Remote.Name, extra, now, o.Intent); err != nil {
			return err
		}
	} else if o.Intent != "" {
		if _, err := c.exec(`UPDATE file_state SET after_upload = ? WHERE watch = ? AND rel = ?`, o.Intent, j.Watch, j.Rel); err != nil {
			return err
		}
	}
	if o.MovedAway {
		if _, err := c.exec(`UPDATE file_state SET moved_away = 1, after_upload = '' WHERE watch = ? AND rel = ?`, j.Watch, j.Rel); err != nil {
			return err
		}
	}
	if err := q.claimNames(c, j, o.Names, now); err != nil {
		return err
	}
	if o.Forget {
		if _, err := c.exec(`DELETE FROM file_state WHERE watch = ? AND rel = ?`, j.Watch, j.Rel); err != nil {
			return err
		}
	}
	if q.sessionsMaybe.Load() {
		if _, err := c.exec(qDropSession, j.Watch, j.Rel); err != nil {
			return err
		}
	}
	if o.Intent != "" {
		return recheck(c, j.ID, ms(o.Recheck), "delivered; after_upload "+o.Intent+" once the file has held still", now, requeued)
	}
	return finish(c, j.ID, Done, "", now, requeued)
}

// finish moves a leased job to state; a dirty job goes back to pending.
func finish(c *conn, id int64, state, msg string, now int64, requeued *bool) error {
	n, err := c.exec(qFinish, state, msg, now, id)
	if err != nil {
		return err
	}
	if n == 1 {
		*requeued = false
		return nil
	}
	if n, err = c.exec(qRequeue, msg, now, id); err != nil {
		return err
	}
	if n != 1 {
		return fmt.Errorf("job %d is no longer leased: %w", id, sql.ErrNoRows)
	}
	*requeued = true
	return nil
}

// recheck returns a leased job to pending until at, without counting the
// attempt; a dirty job is due at once.
func recheck(c *conn, id, at int64, msg string, now int64, requeued *bool) error {
	var dirty int
	err := c.queryRow(`UPDATE jobs SET state = 'pending', not_before = CASE WHEN dirty != 0 THEN 0 ELSE ? END,
		attempts = MAX(attempts - 1, 0), last_error = ?, bytes_done = 0, updated_at = ?
		WHERE id = ? AND state = 'leased' RETURNING dirty`, []any{at, msg, now, id}, &dirty)
	if err != nil {
		return fmt.Errorf("job %d is no longer leased: %w", id, err)
	}
	*requeued = dirty != 0
	_, err = c.exec(`UPDATE jobs SET dirty = 0 WHERE id = ?`, id)
	return err
}

// Sync makes every committed transaction durable: it checkpoints the
// write-ahead log into the database file and fsyncs it (with
// synchronous=NORMAL a commit alone may still be only in the log). Call it
// before an irreversible action that relies on a record, such as deleting
// a delivered file.
func (q *Queue) Sync(ctx context.Context) error {
	if q.ckpt != nil {
		q.ckpt.mu.Lock()
		defer q.ckpt.mu.Unlock()
	}
	var busy, logFrames, done int
	if err := q.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(FULL)`).Scan(&busy, &logFrames, &done); err != nil {
		return fmt.Errorf("queue: checkpoint: %w", err)
	}
	if busy != 0 || done < logFrames {
		return fmt.Errorf("queue: checkpoint: %d of %d log frames written, the database is busy", done, logFrames)
	}
	return nil
}

// Retry returns a leased job to pending until notBefore, recording msg.
// With uncounted, the attempt does not count (the file changed while it
// was sent; shutdown interrupted it).
func (q *Queue) Retry(ctx context.Context, j *Job, notBefore time.Time, msg string, uncounted bool) error {
	now := ms(q.now())
	dec := 0
	if uncounted {
		dec = 1
	}
	err := q.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE jobs SET state = 'pending', dirty = 0, not_before = ?, last_error = ?, attempts = MAX(attempts - ?, 0), bytes_done = 0, updated_at = ? WHERE id = ? AND state = 'leased'`,
			ms(notBefore), msg, dec, now, j.ID)
		return err
	})
	if err != nil {
		return fmt.Errorf("queue: retry job %d: %w", j.ID, err)
	}
	return nil
}

// Defer returns a leased job to pending without counting the attempt,
// recording fp as the file's state: the worker found the file different
// from what settled, and waits until it holds still.
func (q *Queue) Defer(ctx context.Context, j *Job, fp fsid.Fingerprint, notBefore time.Time, msg string) error {
	err := q.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE jobs SET state = 'pending', dirty = 0, size = ?, mtime = ?, inode = ?, dev = ?, ctime = ?, not_before = ?, last_error = ?,
			attempts = MAX(attempts - 1, 0), bytes_done = 0, updated_at = ? WHERE id = ? AND state = 'leased'`,
			fp.Size, fp.ModTime, int64(fp.Inode), int64(fp.Dev), fp.CTime, ms(notBefore), msg, ms(q.now()), j.ID)
		return err
	})
	if err != nil {
		return fmt.Errorf("queue: defer job %d: %w", j.ID, err)
	}
	return nil
}

// MarkMovedAway records that dropsync itself moved or deleted the local
// file of a delivered path (after_upload, failed_to): its remote object is
// never deleted for a deletion of the folder it was in.
func (q *Queue) MarkMovedAway(ctx context.Context, watch, rel string) error {
	_, err := q.db.ExecContext(ctx, `UPDATE file_state SET moved_away = 1 WHERE watch = ? AND rel = ?`, watch, rel)
	if err != nil {
		return fmt.Errorf("queue: mark moved away: %w", q.explain(err))
	}
	return nil
}

// RemoteShared reports whether a path other than rel is recorded as
// delivered to the same remote object of target (targets without folders
// map equal base names to one object).
func (q *Queue) RemoteShared(ctx context.Context, target, remoteID, watch, rel string) (bool, error) {
	if remoteID == "" {
		return false, nil
	}
	var n int
	err := q.db.QueryRowContext(ctx, qRemoteShared, target, remoteID, watch, rel).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("queue: shared remote: %w", q.explain(err))
	}
	return n > 0, nil
}

// Fail moves a leased job to the failed list with msg, the server's words.
// If the file changed while it was in flight, the job returns to pending
// instead: the new content gets its own attempt.
func (q *Queue) Fail(ctx context.Context, j *Job, msg string) (requeued bool, err error) {
	now := ms(q.now())
	err = q.hotTx(ctx, func(c *conn) error {
		if _, err := c.exec(qDropSession, j.Watch, j.Rel); err != nil {
			return err
		}
		return finish(c, j.ID, Failed, msg, now, &requeued)
	})
	if err != nil {
		return false, fmt.Errorf("queue: fail job %d: %w", j.ID, err)
	}
	return requeued, nil
}

// Drop ends a leased job without an outcome: the job and its upload
// session are removed, and nothing is recorded about its file, which is as
// if it had never been queued. It is for a job whose watch is no longer
// configured: its file did not fail, and the watch's scan queues it again
// if the watch comes back. A job an event was merged into while it was
// leased (the watch came back meanwhile and its scan found the file
// changed) is not removed but returned to pending, as any such job is.
func (q *Queue) Drop(ctx context.Context, j *Job) error {
	err := q.hotTx(ctx, func(c *conn) error {
		if _, err := c.exec(qDropSession, j.Watch, j.Rel); err != nil {
			return err
		}
		if _, err := c.exec(qNewJobAttempts, j.ID); err != nil {
			return err
		}
		n, err := c.exec(qRequeue, "", ms(q.now()), j.ID)
		if err != nil || n == 1 {
			return err
		}
		_, err = c.exec(qDropJob, j.ID)
		return err
	})
	if err != nil {
		return fmt.Errorf("queue: drop job %d: %w", j.ID, q.explain(err))
	}
	return nil
}

// SetProgress records how many bytes of a leased job have been sent, for
// `dropsync status` in another process.
func (q *Queue) SetProgress(ctx context.Context, id, bytes int64) error {
	return q.explain(q.withConn(ctx, func(c *conn) error {
		_, err := c.exec(qProgress, bytes, id)
		return err
	}))
}

// PauseTarget records that target must not be contacted before until; the
// pause survives restarts. An earlier pause is only ever extended.
func (q *Queue) PauseTarget(ctx context.Context, target string, until time.Time, reason string) error {
	return q.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO target_pauses (target, until, reason) VALUES (?, ?, ?)
			ON CONFLICT (target) DO UPDATE SET until = MAX(until, excluded.until), reason = excluded.reason`, target, ms(until), reason)
		return err
	})
}

// Pause is a throttled target.
type Pause struct {
	Target string    `json:"target"`
	Until  time.Time `json:"until"`
	Reason string    `json:"reason"`
}

// Pauses lists the targets paused now.
func (q *Queue) Pauses(ctx context.Context) ([]Pause, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT target, until, reason FROM target_pauses WHERE until > ? ORDER BY target`, ms(q.now()))
	if err != nil {
		return nil, q.explain(err)
	}
	defer rows.Close()
	var out []Pause
	for rows.Next() {
		var p Pause
		var until int64
		if err := rows.Scan(&p.Target, &until, &p.Reason); err != nil {
			return nil, err
		}
		p.Until = time.UnixMilli(until)
		out = append(out, p)
	}
	return out, rows.Err()
}

// FileState returns what watch/rel was last delivered as, or nil.
func (q *Queue) FileState(ctx context.Context, watch, rel string) (*FileState, error) {
	var s *FileState
	err := q.withConn(ctx, func(c *conn) (err error) {
		s, err = q.fileState(c, watch, rel)
		return err
	})
	return s, q.explain(err)
}

// fileState is FileState, on c.
func (q *Queue) fileState(c *conn, watch, rel string) (*FileState, error) {
	var r fileStateRow
	err := c.queryRow(qFileState, []any{watch, rel}, r.dest()...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("queue: file state: %w", q.explain(err))
	}
	return r.state()
}

// Jobs lists jobs, newest first; state "" lists all. For a path, give rel.
func (q *Queue) Jobs(ctx context.Context, state, rel string, limit int) ([]*Job, error) {
	var where []string
	var args []any
	if state != "" {
		where, args = append(where, "state = ?"), append(args, state)
	}
	if rel != "" {
		where, args = append(where, "rel = ?"), append(args, rel)
	}
	query := `SELECT ` + jobCols + ` FROM jobs`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY updated_at DESC, id DESC"
	if limit > 0 {
		query += fmt.Sprintf(" LIMIT %d", limit)
	}
	return q.listJobs(ctx, query, args...)
}

// listJobs runs a query of jobCols and scans its rows; nil when none.
func (q *Queue) listJobs(ctx context.Context, query string, args ...any) ([]*Job, error) {
	rows, err := q.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("queue: list: %w", q.explain(err))
	}
	defer rows.Close()
	var out []*Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// StillWriting starts the message of a pending job whose file changed
// during each of its last uploads.
const StillWriting = "still being written"

// StillBeingWritten lists up to limit pending jobs whose file changed
// during each of their last uploads, newest first.
func (q *Queue) StillBeingWritten(ctx context.Context, limit int) ([]*Job, error) {
	out, err := q.listJobs(ctx, `SELECT `+jobCols+` FROM jobs WHERE state = 'pending' AND substr(last_error, 1, length(?1)) = ?1
		ORDER BY updated_at DESC, id DESC LIMIT ?2`, StillWriting, limit)
	if out == nil && err == nil {
		out = []*Job{} // status --json shows an empty list, not null
	}
	return out, err
}

// Counts returns the number of jobs per state.
func (q *Queue) Counts(ctx context.Context) (map[string]int, error) {
	out := map[string]int{Pending: 0, Leased: 0, Done: 0, Failed: 0}
	rows, err := q.db.QueryContext(ctx, `SELECT state, COUNT(*) FROM jobs GROUP BY state`)
	if err != nil {
		return nil, q.explain(err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, err
		}
		out[s] = n
	}
	return out, rows.Err()
}

// OldestPending returns the enqueue time of the oldest pending job.
func (q *Queue) OldestPending(ctx context.Context) (time.Time, bool, error) {
	var v sql.NullInt64
	if err := q.db.QueryRowContext(ctx, `SELECT MIN(created_at) FROM jobs WHERE state = 'pending'`).Scan(&v); err != nil || !v.Valid {
		return time.Time{}, false, err
	}
	return time.UnixMilli(v.Int64), true, nil
}

// RetryFailed returns failed jobs to pending with a fresh attempt count:
// the given ids, or every failed job when ids is empty. A failed job whose
// path already has an active job is dropped instead. It returns how many
// were re-queued, and tells a running daemon (see Changes).
func (q *Queue) RetryFailed(ctx context.Context, ids ...int64) (int, error) {
	n := 0
	now := ms(q.now())
	err := q.inTx(ctx, func(tx *sql.Tx) error {
		sel, args := idFilter(`state = 'failed'`, ids)
		if _, err := tx.ExecContext(ctx, `DELETE FROM jobs WHERE `+sel+` AND EXISTS (SELECT 1 FROM jobs a WHERE a.watch = jobs.watch AND a.rel = jobs.rel AND a.state IN ('pending', 'leased'))`, args...); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE jobs SET state = 'pending', attempts = 0, not_before = 0, updated_at = ? WHERE `+sel, append([]any{now}, args...)...)
		if err != nil {
			return err
		}
		c, _ := res.RowsAffected()
		n = int(c)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("queue: retry: %w", err)
	}
	if n > 0 {
		if err := q.notifyChanged(); err != nil {
			return n, fmt.Errorf("queue: re-queued %d job(s), but could not tell the daemon: %w", n, err)
		}
	}
	return n, nil
}

// Forget deletes jobs that are not in flight. It returns how many went.
func (q *Queue) Forget(ctx context.Context, ids ...int64) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	n := 0
	err := q.inTx(ctx, func(tx *sql.Tx) error {
		sel, args := idFilter(`state != 'leased'`, ids)
		res, err := tx.ExecContext(ctx, `DELETE FROM jobs WHERE `+sel, args...)
		if err != nil {
			return err
		}
		c, _ := res.RowsAffected()
		n = int(c)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("queue: forget: %w", err)
	}
	return n, nil
}

func idFilter(base string, ids []int64) (string, []any) {
	if len(ids) == 0 {
		return base, nil
	}
	args := make([]any, len(ids))
	marks := make([]string, len(ids))
	for i, id := range ids {
		args[i], marks[i] = id, "?"
	}
	return base + " AND id IN (" + strings.Join(marks, ", ") + ")", args
}
