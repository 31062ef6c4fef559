//go:build linux

package daemon_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/dropsync/dropsync/daemon"
	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/targets"
	"github.com/dropsync/dropsync/targets/sensenet"
)

// Regression tests of issue 10, "File safety": each case was reproduced
// against the code before the fix. Linux only: they use FIFOs, /proc and
// file leases.

func busy(string) error {
	return &targets.Error{Kind: targets.Retryable, Op: "test: upload", Status: 503, Msg: "busy"}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func exists(p string) bool { _, err := os.Lstat(p); return err == nil }

// 1. A folder swapped for a symlink while the job waits: the next attempt
// must neither upload the file outside the watch nor delete it.
func TestSwappedFolderDoesNotEscapeTheWatch(t *testing.T) {
	mem.reset()
	var down atomic.Bool
	down.Store(true)
	mem.fail = func(rel string) error {
		if down.Load() {
			return busy(rel)
		}
		return nil
	}
	h := daemontest.Start(t, memTargetYAML, "after_upload: delete")
	h.WriteFile(t, "sub/x", []byte("inside the watch"))
	daemontest.Eventually(t, "the first, failing attempt", func() bool { _, p := mem.get("sub/x"); return p >= 1 })
	outside := t.TempDir()
	secret := []byte("outside the watch, never to be sent")
	if err := os.WriteFile(filepath.Join(outside, "x"), secret, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(h.Inbox, "sub"), filepath.Join(t.TempDir(), "sub.old")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(h.Inbox, "sub")); err != nil {
		t.Fatal(err)
	}
	down.Store(false)
	h.Daemon().Wake()
	daemontest.Eventually(t, "the retries to end", func() bool {
		js, err := h.Queue().Jobs(context.Background(), "", "sub/x", 0)
		if err != nil {
			t.Fatal(err)
		}
		return len(js) > 0 && js[0].State != queue.Pending && js[0].State != queue.Leased
	})
	if slices.Contains(mem.versions("sub/x"), sha256hex(secret)) {
		t.Error("the file outside the watch was uploaded")
	}
	if !exists(filepath.Join(outside, "x")) {
		t.Error("after_upload: delete removed the file outside the watch")
	}
}

// 2. Two failures of the same name: the second never replaces the first
// in failed_to; each keeps its own .error.txt, and queue retry brings back
// the right one.
func TestFailedToNeverOverwritesAParkedFile(t *testing.T) {
	broken := forbidUntilFixed()
	failedTo := t.TempDir()
	h := daemontest.Start(t, memTargetYAML, "failed_to: "+failedTo)
	h.WriteFile(t, "scan.pdf", []byte("first scan"))
	daemontest.Eventually(t, "the first parked", func() bool { return exists(filepath.Join(failedTo, "scan.pdf.error.txt")) })
	h.WriteFile(t, "scan.pdf", []byte("second scan, another page"))
	daemontest.Eventually(t, "the second failure", func() bool { _, p := mem.get("scan.pdf"); return p == 2 })
	daemontest.Eventually(t, "the second parked", func() bool {
		notes, _ := filepath.Glob(filepath.Join(failedTo, "*.error.txt"))
		return !exists(filepath.Join(h.Inbox, "scan.pdf")) && (len(notes) == 2 || readFile(t, filepath.Join(failedTo, "scan.pdf")) != "first scan")
	})
	if got := readFile(t, filepath.Join(failedTo, "scan.pdf")); got != "first scan" {
		t.Fatalf("failed_to/scan.pdf holds %q: the first failed file was overwritten", got)
	}
	if got := readFile(t, filepath.Join(failedTo, "scan (2).pdf")); got != "second scan, another page" {
		t.Fatalf("failed_to/scan (2).pdf holds %q", got)
	}
	for _, n := range []string{"scan.pdf.error.txt", "scan (2).pdf.error.txt"} {
		if !strings.Contains(readFile(t, filepath.Join(failedTo, n)), "forbidden") {
			t.Fatalf("%s does not give the error", n)
		}
	}
	broken.Store(false)
	if n := h.RetryFailed(t); n != 1 {
		t.Fatalf("retried %d", n)
	}
	h.WaitDelivered(t, "scan.pdf", sha256hex([]byte("second scan, another page")))
	if got := readFile(t, filepath.Join(failedTo, "scan.pdf")); got != "first scan" {
		t.Fatalf("the first parked file changed to %q", got)
	}
}

// 3. A writer that pauses longer than settle: its file is not moved away
// while it still writes, and the server ends with the whole file.
func TestSlowWriterIsNotMovedWhileStillWriting(t *testing.T) {
	mem.reset()
	moveTo := t.TempDir()
	h := daemontest.Start(t, memTargetYAML, "settle: 200ms\nafter_upload: move\nmove_to: "+moveTo)
	f, err := os.Create(filepath.Join(h.Inbox, "scan.tif"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	first, second := bytes.Repeat([]byte("a"), 64<<10), bytes.Repeat([]byte("b"), 64<<10)
	if _, err := f.Write(first); err != nil {
		t.Fatal(err)
	}
	h.WaitDelivered(t, "scan.tif", sha256hex(first)) // the writer paused longer than settle
	if _, err := f.Write(second); err != nil {
		t.Fatal(err)
	}
	pause := time.NewTimer(600 * time.Millisecond) // the writer holds the file open a while longer
	<-pause.C
	f.Close()
	whole := sha256hex(append(first, second...))
	daemontest.Eventually(t, "the move", func() bool { return exists(filepath.Join(moveTo, "scan.tif")) })
	h.WaitIdle(t)
	if got := sha256hex([]byte(readFile(t, filepath.Join(moveTo, "scan.tif")))); got != whole {
		t.Fatal("move_to holds an incomplete file")
	}
	if got, puts := mem.get("scan.tif"); got != whole {
		t.Fatalf("the server keeps a partial version after %d uploads", puts)
	}
}

// appendOnce appends to a file the first time its delivery is reported,
// before after_upload runs.
type appendOnce struct {
	daemon.Observers
	path string
	once sync.Once
}

func (a *appendOnce) Delivered(daemon.Delivery) {
	a.once.Do(func() {
		f, err := os.OpenFile(a.path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			panic(err)
		}
		f.Write([]byte(" and the late part"))
		f.Close()
	})
}

// 4. Content written between the delivery and after_upload: delete is
// sent, not deleted unsent.
func TestContentWrittenAfterTheUploadIsNotDeletedUnsent(t *testing.T) {
	mem.reset()
	dir := t.TempDir()
	obs := &appendOnce{path: filepath.Join(dir, "inbox", "note.txt")}
	h := daemontest.StartYAML(t, "state_dir: {{state}}\nworkers: 2\nretry: {initial: 20ms, max: 200ms}\n"+
		"targets:\n  t:\n    type: test-memory\n    url: http://127.0.0.1:1\n"+
		"watches:\n  - path: {{inbox}}\n    target: t\n    settle: 100ms\n    after_upload: delete\n")
	h.Stop()
	obs.path = filepath.Join(h.Inbox, "note.txt")
	h.Observer = obs
	h.Restart(t)
	h.WriteFile(t, "note.txt", []byte("the early part"))
	daemontest.Eventually(t, "the delete", func() bool { return !exists(filepath.Join(h.Inbox, "note.txt")) })
	if got, puts := mem.get("note.txt"); got != sha256hex([]byte("the early part and the late part")) {
		t.Fatalf("the file was deleted after %d uploads without its last content being sent", puts)
	}
}

// 5. A chunked upload interrupted, then the file replaced in place by one
// of the same size and mtime (cp -p): the upload must not resume onto it.
func TestResumeOntoAReplacedFileStartsOver(t *testing.T) {
	fake := sensenet.NewFake()
	srv := httptest.NewServer(fake)
	t.Cleanup(func() { srv.Close(); fake.Close() })
	reached, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	fake.SetChunkHook(func(ev sensenet.ChunkEvent) {
		if ev.Offset == 256<<10 {
			first := false
			once.Do(func() { first = true })
			if first {
				close(reached)
				<-release
			}
		}
	})
	h := daemontest.Start(t, fmt.Sprintf("type: sensenet\nurl: %s\nauth: {type: bearer, token: %s}\nchunk_threshold: 256KiB\nchunk_size: 256KiB\n", srv.URL, sensenet.DemoToken),
		"destination: {path: "+sensenet.DocumentsPath+"}")
	const size = 1 << 20
	h.WriteRandom(t, "big.bin", size)
	p := filepath.Join(h.Inbox, "big.bin")
	<-reached
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	// cp -p: same inode, same size, mtime set back.
	other := make([]byte, size)
	rand.Read(other)
	if err := os.WriteFile(p, other, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	fake.Inject(1, sensenet.Fault{Op: sensenet.OpChunk, Status: 503}) // the next chunk fails: the job is retried
	close(release)
	want := sha256hex(other)
	h.WaitDelivered(t, "big.bin", "")
	h.WaitIdle(t)
	c, _ := fake.Content(sensenet.DocumentsPath + "/big.bin")
	for _, v := range c.Versions {
		if v.SHA256 != want {
			t.Fatalf("the server holds a version that is neither file (a splice of two): %v", c.Versions)
		}
	}
	if st, _ := h.Queue().FileState(context.Background(), h.WatchPath(), "big.bin"); st == nil || st.SHA256 != want {
		t.Fatal("the recorded delivery is not the file")
	}
}

// rewriteKeepingTimes rewrites p in place with data (same size) and sets
// its mtime back, as rsync --inplace -t or cp -p onto an existing file do.
func rewriteKeepingTimes(t *testing.T, p string, data []byte) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
}

// 6. A rewrite that keeps size and mtime is sent, live and across a
// restart.
func TestRewriteKeepingSizeAndMtimeIsSent(t *testing.T) {
	mem.reset()
	h := daemontest.Start(t, memTargetYAML, "")
	h.WriteFile(t, "a.txt", []byte("version one"))
	h.WaitDelivered(t, "a.txt", sha256hex([]byte("version one")))
	rewriteKeepingTimes(t, filepath.Join(h.Inbox, "a.txt"), []byte("version two"))
	h.WaitDelivered(t, "a.txt", sha256hex([]byte("version two")))
	h.Stop()
	rewriteKeepingTimes(t, filepath.Join(h.Inbox, "a.txt"), []byte("version 3!!"))
	h.Restart(t)
	h.WaitDelivered(t, "a.txt", sha256hex([]byte("version 3!!")))
}

// holdDB takes the database's write lock from another connection, as a
// busy or failing disk would, until release is called. It may run on any
// goroutine: a failure is reported with t.Error.
func holdDB(t *testing.T, stateDir string) (release func()) {
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(stateDir, queue.FileName)+"?_busy_timeout=10000&_txlock=immediate")
	if err != nil {
		t.Error(err)
		return func() {}
	}
	tx, err := db.Begin()
	if err == nil {
		_, err = tx.Exec(`UPDATE target_pauses SET reason = reason`)
	}
	if err != nil {
		t.Error(err)
		db.Close()
		return func() {}
	}
	return sync.OnceFunc(func() { tx.Rollback(); db.Close() })
}

// lockAfterDelivery holds the database for a while right after the first
// delivery is recorded.
type lockAfterDelivery struct {
	daemon.Observers
	stateDir string
	t        *testing.T
	once     sync.Once
	released chan struct{}
}

func (l *lockAfterDelivery) Delivered(daemon.Delivery) {
	l.once.Do(func() {
		release := holdDB(l.t, l.stateDir)
		go func() {
			// Longer than the queue's busy timeout: whatever the daemon
			// writes next in a transaction of its own fails.
			tm := time.NewTimer(11 * time.Second)
			<-tm.C
			release()
			close(l.released)
		}()
	})
}

// 7. after_upload: move with deletes: propagate, and the record of the
// move lost (a crash, a database that cannot be written): removing the
// emptied folder must not delete the delivered object on the server.
func TestLostMoveMarkNeverDeletesRemotely(t *testing.T) {
	resetDel()
	moveTo := t.TempDir()
	obs := &lockAfterDelivery{t: t, released: make(chan struct{})}
	h := daemontest.Start(t, "type: test-memdel\nurl: http://127.0.0.1:1\n", "after_upload: move\nmove_to: "+moveTo+"\ndeletes: propagate")
	h.Stop()
	obs.stateDir = h.StateDir
	h.Observer = obs
	h.Restart(t)
	h.WriteFile(t, "batch/a.pdf", []byte("invoice"))
	daemontest.Eventually(t, "the move", func() bool {
		return exists(filepath.Join(moveTo, "batch", "a.pdf")) && !exists(filepath.Join(h.Inbox, "batch", "a.pdf"))
	})
	<-obs.released
	h.WaitIdle(t)
	h.Restart(t)                      // as after a crash
	settleEvents(t, h, "started.txt") // the restarted watcher is watching
	if err := os.Remove(filepath.Join(h.Inbox, "batch")); err != nil {
		t.Fatal(err)
	}
	settleEvents(t, h, "sentinel.txt")
	if d := deleted(); len(d) > 0 {
		t.Fatalf("the delivered object was deleted on the server: %v", d)
	}
}

// hashing reports whether this process holds p open.
func holdsOpen(p string) bool {
	ents, _ := os.ReadDir("/proc/self/fd")
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && l == p {
			return true
		}
	}
	return false
}

// 8. A FIFO or a symlink renamed over a file while the worker hashes it
// (its mtime changed, its size did not): the worker must not block on the
// FIFO, and must not send the link's target from outside the watch.
func TestSwappedBeforeOpen(t *testing.T) {
	for _, kind := range []string{"fifo", "symlink"} {
		t.Run(kind, func(t *testing.T) {
			mem.reset()
			h := daemontest.Start(t, memTargetYAML, "")
			const size = 128 << 20
			p := filepath.Join(h.Inbox, "big.bin")
			h.WaitDelivered(t, "big.bin", h.WriteRandom(t, "big.bin", size))
			swap := filepath.Join(t.TempDir(), "swap")
			outside := filepath.Join(t.TempDir(), "outside.bin")
			var outsideSHA string
			if kind == "fifo" {
				if err := syscall.Mkfifo(swap, 0o600); err != nil {
					t.Fatal(err)
				}
				// Whatever happens, unblock a reader left on the FIFO.
				t.Cleanup(func() {
					if f, err := os.OpenFile(p, os.O_RDWR|syscall.O_NONBLOCK, 0); err == nil {
						f.Close()
					}
				})
			} else {
				f, err := os.Create(outside)
				if err != nil {
					t.Fatal(err)
				}
				hs := sha256.New()
				io.CopyN(io.MultiWriter(f, hs), rand.Reader, size)
				f.Close()
				outsideSHA = hex.EncodeToString(hs.Sum(nil))
				if err := os.Symlink(outside, swap); err != nil {
					t.Fatal(err)
				}
			}
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteAt([]byte("changed bytes"), 0) // same size, new mtime: the worker hashes
			f.Close()
			daemontest.Eventually(t, "the worker to open the file", func() bool { return holdsOpen(p) })
			if err := os.Rename(swap, p); err != nil {
				t.Fatal(err)
			}
			h.WaitIdle(t)
			stopped := h.StopAsync()
			tm := time.NewTimer(10 * time.Second)
			defer tm.Stop()
			select {
			case <-stopped:
			case <-tm.C:
				t.Fatal("the daemon does not stop: a worker is blocked on the FIFO")
			}
			if outsideSHA != "" && slices.Contains(mem.versions("big.bin"), outsideSHA) {
				t.Fatal("the symlink's target outside the watch was uploaded")
			}
			if outsideSHA != "" && !exists(outside) {
				t.Fatal("the file outside the watch is gone")
			}
		})
	}
}

// 9. A file rewritten during its upload never becomes a server version
// that never existed locally; one that changes during every upload is not
// sent as a new version each time, and status says it is still being
// written.
func TestNoTornVersions(t *testing.T) {
	mem.reset()
	block := make(chan struct{})
	mem.block = block
	h := daemontest.Start(t, memTargetYAML, "")
	const size = 1 << 20
	a := h.WriteRandom(t, "doc.bin", size)
	daemontest.Eventually(t, "the upload to start", func() bool { _, p := mem.get("doc.bin"); return p == 1 })
	b := make([]byte, size)
	rand.Read(b)
	f, err := os.OpenFile(filepath.Join(h.Inbox, "doc.bin"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(b, 0) // rewritten in place while the upload is half-way
	f.Close()
	mem.mu.Lock()
	mem.block = nil
	mem.mu.Unlock()
	close(block)
	h.WaitDelivered(t, "doc.bin", sha256hex(b))
	for _, v := range mem.versions("doc.bin") {
		if v != a && v != sha256hex(b) {
			t.Fatal("the server holds a torn version, half old and half new")
		}
	}
}

func TestFileChangingDuringEveryUploadIsStillBeingWritten(t *testing.T) {
	mem.reset()
	h := daemontest.Start(t, memTargetYAML, "")
	p := filepath.Join(h.Inbox, "log.txt")
	mem.fail = func(string) error {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
		if err == nil {
			f.Write([]byte("another line\n"))
			f.Close()
		}
		return nil
	}
	h.WriteFile(t, "log.txt", []byte("first line\n"))
	daemontest.Eventually(t, "several attempts", func() bool { _, p := mem.get("log.txt"); return p >= 2 })
	if v := mem.versions("log.txt"); len(v) > 0 {
		t.Fatalf("%d server versions of a file that changed during each upload", len(v))
	}
	daemontest.Eventually(t, `"still being written" in status`, func() bool {
		js, err := h.Queue().StillBeingWritten(context.Background(), 10)
		if err != nil {
			t.Fatal(err)
		}
		return len(js) == 1 && js[0].Rel == "log.txt"
	})
	mem.mu.Lock()
	mem.fail = nil
	mem.mu.Unlock()
	h.WaitDelivered(t, "log.txt", "")
}

// Records written before fingerprints had a device and a change time (0
// after the migration) cost one hash of each delivered file, not an
// upload.
func TestRecordsFromBeforeCtimeAreNotSentAgain(t *testing.T) {
	mem.reset()
	h := daemontest.Start(t, memTargetYAML, "")
	sha := h.WriteRandom(t, "old.bin", 4096)
	h.WaitDelivered(t, "old.bin", sha)
	h.Stop()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(h.StateDir, queue.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE file_state SET dev = 0, ctime = 0`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	h.Restart(t)
	daemontest.Eventually(t, "the record to take the new fingerprint", func() bool {
		st, err := h.Queue().FileState(context.Background(), h.WatchPath(), "old.bin")
		return err == nil && st != nil && st.FP.CTime != 0
	})
	h.WaitIdle(t)
	if _, puts := mem.get("old.bin"); puts != 1 {
		t.Fatalf("%d uploads, want 1", puts)
	}
}

// forbidUntilFixed resets the memory target to refuse every upload for
// good (403) until the flag it returns is cleared.
func forbidUntilFixed() *atomic.Bool {
	mem.reset()
	broken := new(atomic.Bool)
	broken.Store(true)
	mem.fail = func(string) error {
		if broken.Load() {
			return &targets.Error{Kind: targets.Permanent, Op: "test: upload", Status: 403, Msg: "forbidden"}
		}
		return nil
	}
	return broken
}
