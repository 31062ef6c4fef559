package queue

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dropsync/dropsync/internal/fsid"
	"github.com/dropsync/dropsync/targets"
)

// BenchmarkBurstPages is what the queue's share of the hot-folder burst
// (BenchmarkBurstQueueWork) writes and runs, counted rather than timed, so
// that it is the same on every run: WAL frames (pages written by commits),
// SQL statements and commits per file. The burst is 10,000 new files in
// 100 folders, enqueued in batches of 500, one batch per 25 commit rounds
// (the folder fills faster than it drains); each round is one transaction
// of exactly `group` workers' completions (a file state and one remote
// name each), every one claiming its worker's next job, as CompleteNext
// does in the daemon. The checkpointer is stopped and the log emptied
// first, so the log holds every frame the burst wrote. Built with
// -tags sqlite_dbstat, it also logs the frames per b-tree (mapped by the
// pages' owners at the end of the burst).
//
// Run it with: go test -run '^$' -bench BurstPages -benchtime 1x ./queue/
func BenchmarkBurstPages(b *testing.B) {
	for _, group := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("group=%d", group), func(b *testing.B) {
			var f burstFigures
			for range b.N {
				f = measureBurst(b, 10_000, group)
			}
			b.ReportMetric(float64(f.frames)/float64(f.files), "frames/file")
			b.ReportMetric(float64(f.frames*f.pageSize)/1024/float64(f.files), "KiB/file")
			b.ReportMetric(float64(f.stmts)/float64(f.files), "stmts/file")
			b.ReportMetric(float64(f.commits)/float64(f.files), "commits/file")
			if len(f.byTree) > 0 {
				var trees []string
				for name := range f.byTree {
					trees = append(trees, name)
				}
				slices.SortFunc(trees, func(a, b string) int { return f.byTree[b] - f.byTree[a] })
				for i, name := range trees {
					trees[i] = fmt.Sprintf("%s %.3f", name, float64(f.byTree[name])/float64(f.files))
				}
				b.Logf("frames per file by b-tree: %s", strings.Join(trees, ", "))
			}
		})
	}
}

type burstFigures struct {
	files, pageSize        int
	frames, commits, stmts int
	byTree                 map[string]int // frames per b-tree; empty without dbstat
}

// measureBurst runs the burst BenchmarkBurstPages describes on a new
// queue and counts what it wrote and ran.
func measureBurst(tb testing.TB, files, group int) burstFigures {
	tb.Helper()
	const folders, batch, roundsPerBatch = 100, 500, 25
	ctx := context.Background()
	q, err := Open(ctx, filepath.Join(tb.TempDir(), "state"))
	if err != nil {
		tb.Fatal(err)
	}
	defer q.Close()
	stmts := &logStatements(tb, q).n
	q.ckpt.close()
	q.ckpt = nil // nothing checkpoints: the log keeps every frame
	if _, err := q.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		tb.Fatal(err)
	}
	stmts.Store(0)

	items := make([]Item, files)
	for k := range items {
		items[k] = Item{Watch: "/w", Rel: fmt.Sprintf("d%03d/f%05d.bin", k%folders, k), Target: "t",
			FP: fsid.Fingerprint{Size: 4096, ModTime: int64(k), Inode: uint64(k + 1)}}
	}
	f := burstFigures{files: files, byTree: map[string]int{}}
	wal := openWAL(tb, q.path+"-wal")
	_, dbstat := q.db.ExecContext(ctx, `SELECT 1 FROM dbstat LIMIT 1`)
	account := func() { // the burst's frames and statements so far, not dbstat's
		f.stmts += int(stmts.Swap(0))
		defer stmts.Store(0)
		pages, commits := wal.next(tb)
		f.frames += len(pages)
		f.commits += commits
		if dbstat != nil || len(pages) == 0 {
			return
		}
		owners := map[uint32]string{}
		rows, err := q.db.QueryContext(ctx, `SELECT name, pageno FROM dbstat`)
		if err != nil {
			tb.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var name string
			var page uint32
			if err := rows.Scan(&name, &page); err != nil {
				tb.Fatal(err)
			}
			owners[page] = name
		}
		for _, p := range pages {
			name, ok := owners[p]
			if !ok {
				name = "(free)"
			}
			f.byTree[name]++
		}
	}
	enqueued, done := 0, 0
	jobs := make([]*Job, group) // each worker's job; nil: it claims one
	for rounds := 0; done < files; rounds++ {
		if enqueued < files && rounds%roundsPerBatch == 0 {
			if _, err := q.Enqueue(ctx, items[enqueued:enqueued+batch]); err != nil {
				tb.Fatal(err)
			}
			enqueued += batch
			account()
		}
		calls := make([]func(), group)
		for w := range jobs {
			calls[w] = func() {
				var err error
				if j := jobs[w]; j == nil {
					jobs[w], err = q.Claim(ctx)
				} else {
					o := Outcome{Delivered: &FileState{FP: j.FP, SHA256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
						Remote: targets.Remote{ID: "id-" + j.Rel, Name: j.Rel}}, Names: []string{j.Rel}}
					var next []*Job
					_, next, err = q.CompleteNext(ctx, j, o, Want{Now: 1})
					jobs[w] = nil
					if len(next) > 0 {
						jobs[w] = next[0]
					}
				}
				if err != nil {
					tb.Error(err)
				}
			}
		}
		for _, j := range jobs {
			if j != nil {
				done++
			}
		}
		oneRound(tb, q, calls)
		account()
	}
	f.pageSize = wal.pageSize
	for _, j := range jobs {
		if j != nil {
			tb.Fatalf("job %d of %s left over", j.ID, j.Rel)
		}
	}
	if c, err := q.Counts(ctx); err != nil || c[Done] != files {
		tb.Fatalf("counts %v, %v; want %d done", c, err, files)
	}
	return f
}

// oneRound runs calls, each a completion or a claim of the queue's, as one
// group-commit round, in their order: it holds the round open while they
// queue one after the other, then hands the lead to the first.
func oneRound(tb testing.TB, q *Queue, calls []func()) {
	tb.Helper()
	q.group.mu.Lock()
	q.group.running = true
	q.group.mu.Unlock()
	var wg sync.WaitGroup
	for i, call := range calls {
		wg.Go(call)
		deadline := time.Now().Add(30 * time.Second)
		for {
			q.group.mu.Lock()
			queued := len(q.group.queued)
			q.group.mu.Unlock()
			if queued == i+1 {
				break
			}
			if time.Now().After(deadline) {
				tb.Fatalf("%d of %d calls queued", queued, i+1)
			}
			runtime.Gosched()
		}
	}
	q.group.mu.Lock()
	q.group.queued[0].wake <- true
	q.group.mu.Unlock()
	wg.Wait()
}

// walLog reads the frames a write-ahead log gains.
type walLog struct {
	f        *os.File
	pageSize int
	off      int64
}

func openWAL(tb testing.TB, path string) *walLog {
	tb.Helper()
	r, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { r.Close() })
	return &walLog{f: r}
}

// next returns the page numbers of the frames written since the last call,
// and how many of them ended a commit.
func (w *walLog) next(tb testing.TB) (pages []uint32, commits int) {
	tb.Helper()
	if w.off == 0 { // the log's header, written by its first commit
		hdr := make([]byte, 32)
		if _, err := w.f.ReadAt(hdr, 0); err == io.EOF {
			return nil, 0
		} else if err != nil {
			tb.Fatal(err)
		}
		w.pageSize, w.off = int(binary.BigEndian.Uint32(hdr[8:])), 32
	}
	frame := make([]byte, 24+w.pageSize)
	for {
		if _, err := w.f.ReadAt(frame, w.off); err == io.EOF {
			return pages, commits
		} else if err != nil {
			tb.Fatal(err)
		}
		w.off += int64(len(frame))
		pages = append(pages, binary.BigEndian.Uint32(frame))
		if binary.BigEndian.Uint32(frame[4:]) != 0 {
			commits++
		}
	}
}

// statementLog counts the statements run on a queue's pool of connections
// and keeps their texts.
type statementLog struct {
	n     atomic.Int64
	mu    sync.Mutex
	texts map[string]bool
}

// seen returns the texts of the statements prepared so far.
func (l *statementLog) seen() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for s := range l.texts {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// logStatements reopens q's pool of connections through a driver that
// counts the statements run on them (each execution, as the queue runs
// them) and keeps their texts.
func logStatements(tb testing.TB, q *Queue) *statementLog {
	tb.Helper()
	l := &statementLog{texts: map[string]bool{}}
	dsn := "file:" + q.path + "?_journal_mode=WAL&_busy_timeout=" + busyTimeout + "&_txlock=immediate&_synchronous=NORMAL"
	q.closeStmts()
	q.db.Close()
	q.db = sql.OpenDB(loggingConnector{d: q.db.Driver(), dsn: dsn, log: l})
	q.db.SetMaxOpenConns(1)
	q.db.SetMaxIdleConns(1)
	return l
}

type loggingConnector struct {
	d   driver.Driver
	dsn string
	log *statementLog
}

func (c loggingConnector) Connect(context.Context) (driver.Conn, error) {
	dc, err := c.d.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return loggingConn{Conn: dc, log: c.log}, nil
}

func (c loggingConnector) Driver() driver.Driver { return c.d }

type loggingConn struct {
	driver.Conn
	log *statementLog
}

func (c loggingConn) Prepare(query string) (driver.Stmt, error) {
	st, err := c.Conn.Prepare(query)
	if err != nil {
		return nil, err
	}
	c.log.mu.Lock()
	c.log.texts[query] = true
	c.log.mu.Unlock()
	return loggingStmt{Stmt: st, n: &c.log.n}, nil
}

type loggingStmt struct {
	driver.Stmt
	n *atomic.Int64
}

func (s loggingStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	s.n.Add(1)
	return s.Stmt.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (s loggingStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	s.n.Add(1)
	return s.Stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
}
