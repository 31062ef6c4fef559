package daemon_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/daemon"
	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/internal/fsid"
	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/targets"
)

// memDel is mem with a Deleter, so deletes: propagate has an effect.
type memDel struct {
	*memTarget
	dmu     sync.Mutex
	deleted []string
	calls   int                    // Delete calls, failed ones too
	fail    func(rel string) error // if set, Delete's answer
}

var mdel = &memDel{memTarget: mem}

func init() {
	targets.Register("test-memdel", func(*targets.Base) (targets.Target, error) { return mdel, nil })
}

func (m *memDel) Delete(_ context.Context, f *targets.File, _ targets.Remote) error {
	m.dmu.Lock()
	m.calls++
	fail := m.fail
	m.dmu.Unlock()
	if fail != nil {
		if err := fail(f.Rel); err != nil {
			return err
		}
	}
	m.dmu.Lock()
	defer m.dmu.Unlock()
	m.deleted = append(m.deleted, f.Rel)
	return nil
}

// reset forgets deletions and hooks.
func (m *memDel) reset() {
	m.dmu.Lock()
	defer m.dmu.Unlock()
	m.deleted, m.calls, m.fail = nil, 0, nil
}

// A rescan that sees a file while it is being uploaded must not make the
// daemon take the after_upload move for a user's deletion and delete the
// object it has just delivered.
func TestRescanDuringUploadWithMoveDoesNotDeleteRemote(t *testing.T) {
	mem.reset()
	mdel.reset()
	block := make(chan struct{})
	mem.block = block
	moveTo := t.TempDir()
	h := daemontest.Start(t, "type: test-memdel\nurl: http://127.0.0.1:1\n", "after_upload: move\nmove_to: "+moveTo+"\ndeletes: propagate")
	sha := h.WriteRandom(t, "big.bin", 4096)
	daemontest.Eventually(t, "the upload to start", func() bool { _, p := mem.get("big.bin"); return p == 1 })
	fp, _, err := fsid.Stat(filepath.Join(h.Inbox, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	// What a reconcile scan settling now sends: the same file.
	if _, err := h.Queue().Enqueue(context.Background(), []queue.Item{{Watch: h.WatchPath(), Rel: "big.bin", Target: "t", FP: fp}}); err != nil {
		t.Fatal(err)
	}
	mem.mu.Lock()
	mem.block = nil
	mem.mu.Unlock()
	close(block)
	h.WaitDelivered(t, "big.bin", sha)
	daemontest.Eventually(t, "the move", func() bool { _, err := os.Stat(filepath.Join(moveTo, "big.bin")); return err == nil })
	h.WaitIdle(t)
	mdel.dmu.Lock()
	defer mdel.dmu.Unlock()
	if len(mdel.deleted) > 0 {
		t.Fatalf("remote object deleted right after delivery: %v", mdel.deleted)
	}
	if st, _ := h.Queue().FileState(context.Background(), h.WatchPath(), "big.bin"); st == nil {
		t.Fatal("delivery record forgotten")
	}
}

// A retry that fires while the file is being rewritten (slower than settle
// can notice) must not send the half-written content and move the file
// away: it waits until the file holds still.
func TestRetryDuringRewriteWaitsForTheFinalContent(t *testing.T) {
	mem.reset()
	n := 0
	mem.fail = func(string) error {
		n++
		if n == 1 {
			return &targets.Error{Kind: targets.Retryable, Op: "test: upload", Status: 503, Msg: "busy"}
		}
		return nil
	}
	moveTo := t.TempDir()
	h := daemontest.StartYAML(t, "state_dir: {{state}}\nworkers: 1\nretry: {initial: 150ms, max: 150ms}\n"+
		"targets:\n  t:\n    type: test-memory\n    url: http://127.0.0.1:1\n"+
		"watches:\n  - path: {{inbox}}\n    target: t\n    settle: 400ms\n    after_upload: move\n    move_to: "+moveTo+"\n")
	h.WriteFile(t, "doc.txt", []byte("old content\n"))
	daemontest.Eventually(t, "the first, failing attempt", func() bool { _, p := mem.get("doc.txt"); return p == 1 })
	f, err := os.OpenFile(filepath.Join(h.Inbox, "doc.txt"), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	hs := sha256.New()
	line := []byte(strings.Repeat("x", 99) + "\n")
	tick := time.NewTicker(100 * time.Millisecond) // a slow writer: pauses shorter than settle
	for range 20 {
		<-tick.C
		f.Write(line)
		hs.Write(line)
	}
	tick.Stop()
	f.Close()
	final := hex.EncodeToString(hs.Sum(nil))
	daemontest.Eventually(t, "the move", func() bool { _, err := os.Stat(filepath.Join(moveTo, "doc.txt")); return err == nil })
	if got, puts := mem.get("doc.txt"); got != final {
		t.Fatalf("the server holds a half-written version after %d puts", puts)
	}
}

// queue retry after failed_to moves the file back and delivers it.
func TestRetryAfterFailedToMovesTheFileBack(t *testing.T) {
	mem.reset()
	failedTo := t.TempDir()
	mem.fail = func(string) error {
		return &targets.Error{Kind: targets.Permanent, Op: "test: upload", Status: 415, Msg: "type not allowed"}
	}
	h := daemontest.Start(t, memTargetYAML, "failed_to: "+failedTo)
	sha := h.WriteRandom(t, "a/report.pdf", 300)
	h.WaitFailed(t, "a/report.pdf")
	daemontest.Eventually(t, "the move to failed_to", func() bool {
		_, err := os.Stat(filepath.Join(failedTo, "a", "report.pdf.error.txt"))
		return err == nil
	})
	mem.mu.Lock()
	mem.fail = nil // the operator allowed the type
	mem.mu.Unlock()
	if n := h.RetryFailed(t); n != 1 {
		t.Fatalf("retried %d", n)
	}
	h.WaitDelivered(t, "a/report.pdf", sha)
	if got, _ := mem.get("a/report.pdf"); got != sha {
		t.Fatal("server content differs")
	}
	if _, err := os.Stat(filepath.Join(failedTo, "a", "report.pdf.error.txt")); !os.IsNotExist(err) {
		t.Fatal("the .error.txt note was left behind")
	}
}

// deletes: propagate and a deleted folder: every file delivered from below
// it is deleted on the server.
func TestDeletedFolderPropagatesToItsFiles(t *testing.T) {
	mem.reset()
	mdel.reset()
	h := daemontest.Start(t, "type: test-memdel\nurl: http://127.0.0.1:1\n", "deletes: propagate")
	for _, rel := range []string{"batch/x.txt", "batch/deep/y.txt", "keep.txt"} {
		h.WaitDelivered(t, rel, h.WriteRandom(t, rel, 10))
	}
	if err := os.RemoveAll(filepath.Join(h.Inbox, "batch")); err != nil {
		t.Fatal(err)
	}
	h.WaitForgotten(t, "batch/x.txt")
	h.WaitForgotten(t, "batch/deep/y.txt")
	h.WaitIdle(t)
	mdel.dmu.Lock()
	got := strings.Join(mdel.deleted, ",")
	mdel.dmu.Unlock()
	if got != "batch/deep/y.txt,batch/x.txt" && got != "batch/x.txt,batch/deep/y.txt" {
		t.Fatalf("deleted on the server: %q", got)
	}
	if st, _ := h.Queue().FileState(context.Background(), h.WatchPath(), "keep.txt"); st == nil {
		t.Fatal("a file outside the folder was forgotten")
	}
}

// A folder moved out of the watch gives no event per file, only the
// folder's: its delivered files are deleted on the server all the same.
func TestFolderMovedAwayPropagatesToItsFiles(t *testing.T) {
	mem.reset()
	mdel.reset()
	h := daemontest.Start(t, "type: test-memdel\nurl: http://127.0.0.1:1\n", "deletes: propagate")
	for _, rel := range []string{"old/a.txt", "old/sub/b.txt"} {
		h.WaitDelivered(t, rel, h.WriteRandom(t, rel, 10))
	}
	if err := os.Rename(filepath.Join(h.Inbox, "old"), filepath.Join(t.TempDir(), "archived")); err != nil {
		t.Fatal(err)
	}
	h.WaitForgotten(t, "old/a.txt")
	h.WaitForgotten(t, "old/sub/b.txt")
	mdel.dmu.Lock()
	defer mdel.dmu.Unlock()
	if len(mdel.deleted) != 2 {
		t.Fatalf("deleted on the server: %v", mdel.deleted)
	}
}

func resetDel() {
	mem.reset()
	mdel.reset()
}

func deleted() []string {
	mdel.dmu.Lock()
	defer mdel.dmu.Unlock()
	return append([]string(nil), mdel.deleted...)
}

// settleEvents makes sure the watcher has passed on every earlier event:
// a sentinel file written after them is delivered, then the queue drains.
func settleEvents(t *testing.T, h *daemontest.Harness, name string) {
	t.Helper()
	h.WaitDelivered(t, name, h.WriteRandom(t, name, 8))
	h.WaitIdle(t)
}

// after_upload: move empties a folder; removing the empty folder deletes
// nothing on the server: dropsync moved those files, not the user.
func TestRemovingAFolderEmptiedByAfterUploadDeletesNothing(t *testing.T) {
	resetDel()
	moveTo := t.TempDir()
	h := daemontest.Start(t, "type: test-memdel\nurl: http://127.0.0.1:1\n", "after_upload: move\nmove_to: "+moveTo+"\ndeletes: propagate")
	for _, rel := range []string{"batch/a.pdf", "batch/b.pdf"} {
		h.WaitDelivered(t, rel, h.WriteRandom(t, rel, 10))
	}
	daemontest.Eventually(t, "the moves", func() bool {
		_, e1 := os.Stat(filepath.Join(moveTo, "batch", "a.pdf"))
		_, e2 := os.Stat(filepath.Join(moveTo, "batch", "b.pdf"))
		return e1 == nil && e2 == nil
	})
	h.WaitIdle(t)
	if err := os.Remove(filepath.Join(h.Inbox, "batch")); err != nil { // empty now
		t.Fatal(err)
	}
	settleEvents(t, h, "sentinel.txt")
	if d := deleted(); len(d) > 0 {
		t.Fatalf("removing an emptied folder deleted delivered files on the server: %v", d)
	}
}

func TestFolderWithNonASCIINameMovedAwayPropagates(t *testing.T) {
	resetDel()
	h := daemontest.Start(t, "type: test-memdel\nurl: http://127.0.0.1:1\n", "deletes: propagate")
	for _, rel := range []string{"März/a.txt", "März/sub/b.txt"} {
		h.WaitDelivered(t, rel, h.WriteRandom(t, rel, 10))
	}
	if err := os.Rename(filepath.Join(h.Inbox, "März"), filepath.Join(t.TempDir(), "archived")); err != nil {
		t.Fatal(err)
	}
	h.WaitForgotten(t, "März/a.txt")
	h.WaitForgotten(t, "März/sub/b.txt")
	if d := deleted(); len(d) != 2 {
		t.Fatalf("deleted on the server: %v, want both files", d)
	}
}

// An old copy parked in failed_to never replaces a newer file the user has
// deleted meanwhile (deletes: ignore).
func TestFailedToCopyDoesNotResurrectADeletedFile(t *testing.T) {
	mem.reset()
	failedTo := t.TempDir()
	mem.fail = func(string) error {
		return &targets.Error{Kind: targets.Permanent, Op: "test: upload", Status: 403, Msg: "forbidden"}
	}
	h := daemontest.Start(t, memTargetYAML, "failed_to: "+failedTo)
	h.WriteFile(t, "x.txt", []byte("old, bad version"))
	h.WaitFailed(t, "x.txt")
	daemontest.Eventually(t, "the move to failed_to", func() bool { _, err := os.Stat(filepath.Join(failedTo, "x.txt")); return err == nil })
	block := make(chan struct{})
	mem.mu.Lock()
	mem.fail = func(string) error {
		<-block
		return &targets.Error{Kind: targets.Retryable, Op: "test: upload", Status: 503, Msg: "busy"}
	}
	mem.mu.Unlock()
	h.WriteFile(t, "x.txt", []byte("new version")) // dropped again
	daemontest.Eventually(t, "its attempt", func() bool { _, p := mem.get("x.txt"); return p == 2 })
	mem.mu.Lock()
	mem.fail = nil
	mem.mu.Unlock()
	h.Remove(t, "x.txt") // withdrawn while its attempt is in flight
	close(block)         // that attempt fails with 503 and is retried
	h.WaitIdle(t)
	if _, err := os.Stat(filepath.Join(h.Inbox, "x.txt")); err == nil {
		t.Fatal("the deleted file came back from failed_to")
	}
	if _, puts := mem.get("x.txt"); puts != 2 {
		t.Fatalf("%d uploads, want no third", puts)
	}
}

// flat is a target without folders that identifies objects by base name
// (as sbm with on_conflict: version does); its first delete fails once.
// With gate set, Put waits on it, counting uploads of one name at once.
type flat struct {
	mu      sync.Mutex
	objs    map[string]bool
	dels    int
	gate    chan struct{}
	running map[string]int
	overlap bool // two uploads of one name ran at once
}

func (m *flat) FlatNames() bool { return true }

var flt = &flat{objs: map[string]bool{}, running: map[string]int{}}

func init() {
	targets.Register("test-flat", func(*targets.Base) (targets.Target, error) { return flt, nil })
}

func (m *flat) Watch(w *config.Watch) (any, error) { return nil, w.Destination.Decode() }
func (m *flat) Prepare(_ context.Context, f *targets.File) (*targets.Plan, error) {
	return &targets.Plan{Name: f.Name()}, nil
}
func (m *flat) Put(ctx context.Context, f *targets.File, _ *targets.Plan, body *targets.Body) (targets.Remote, error) {
	m.mu.Lock()
	gate := m.gate
	m.running[f.Name()]++
	if m.running[f.Name()] > 1 {
		m.overlap = true
	}
	m.mu.Unlock()
	var err error
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if err == nil {
		_, err = io.Copy(io.Discard, body)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.running[f.Name()]--
	if err != nil {
		return targets.Remote{}, err
	}
	m.objs[f.Name()] = true
	return targets.Remote{ID: f.Name(), Name: f.Name()}, nil
}
func (m *flat) Delete(_ context.Context, _ *targets.File, r targets.Remote) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dels++
	if m.dels == 1 {
		return &targets.Error{Kind: targets.Retryable, Op: "test: delete", Status: 503, Msg: "busy"}
	}
	delete(m.objs, r.ID)
	return nil
}

// A folder renamed inside the watch, on a target without folders: the
// old path's deletion must not delete the object the new path now holds.
func TestFolderRenameOnAFlatTargetKeepsTheObject(t *testing.T) {
	for round := range 3 {
		flt.mu.Lock()
		flt.objs, flt.dels = map[string]bool{}, 0
		flt.mu.Unlock()
		h := daemontest.Start(t, "type: test-flat\nurl: http://127.0.0.1:1\n", "deletes: propagate")
		h.WaitDelivered(t, "A/x.pdf", h.WriteRandom(t, "A/x.pdf", 10))
		if err := os.Rename(filepath.Join(h.Inbox, "A"), filepath.Join(h.Inbox, "B")); err != nil {
			t.Fatal(err)
		}
		h.WaitDelivered(t, "B/x.pdf", "")
		h.WaitForgotten(t, "A/x.pdf")
		h.WaitIdle(t)
		flt.mu.Lock()
		ok := flt.objs["x.pdf"]
		flt.mu.Unlock()
		h.Stop()
		if !ok {
			t.Fatalf("round %d: B/x.pdf is recorded as delivered, but its object was deleted for A/x.pdf", round)
		}
	}
}

// A file delivered but not yet moved (dropsync stopped in between) is moved
// at the next start, without being sent again.
func TestPendingAfterUploadIsFinishedAtTheNextStart(t *testing.T) {
	mem.reset()
	h := daemontest.Start(t, memTargetYAML, "")
	sha := h.WriteRandom(t, "late.txt", 64)
	h.WaitDelivered(t, "late.txt", sha)
	h.Stop()
	moveTo := t.TempDir()
	y := fmt.Sprintf("state_dir: %s\ntargets:\n  t:\n    type: test-memory\n    url: http://127.0.0.1:1\nwatches:\n  - path: %s\n    target: t\n    settle: 100ms\n    after_upload: move\n    move_to: %s\n",
		h.StateDir, h.Inbox, moveTo)
	c, err := config.Parse(strings.NewReader(y))
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.New(context.Background(), c, daemon.Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	daemontest.Eventually(t, "the move at the next start", func() bool {
		_, err := os.Stat(filepath.Join(moveTo, "late.txt"))
		return err == nil
	})
	if _, puts := mem.get("late.txt"); puts != 1 {
		t.Fatalf("%d uploads, want 1", puts)
	}
}

// On a target without folders, a/same.txt and b/same.txt are never
// uploaded at the same time.
func TestSameNameInTwoFoldersIsUploadedOneAtATime(t *testing.T) {
	gate := make(chan struct{})
	flt.mu.Lock()
	flt.objs, flt.dels, flt.gate, flt.overlap = map[string]bool{}, 0, gate, false
	flt.mu.Unlock()
	defer func() { flt.mu.Lock(); flt.gate = nil; flt.mu.Unlock() }()
	h := daemontest.Start(t, "type: test-flat\nurl: http://127.0.0.1:1\n", "")
	a := h.WriteRandom(t, "a/same.txt", 10)
	b := h.WriteRandom(t, "b/same.txt", 10)
	daemontest.Eventually(t, "both jobs taken by workers", func() bool {
		c, err := h.Queue().Counts(context.Background())
		return err == nil && c[queue.Leased] == 2
	})
	close(gate)
	h.WaitDelivered(t, "a/same.txt", a)
	h.WaitDelivered(t, "b/same.txt", b)
	flt.mu.Lock()
	defer flt.mu.Unlock()
	if flt.overlap {
		t.Fatal("two uploads of same.txt ran at once")
	}
}
