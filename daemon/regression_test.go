package daemon_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

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
}

var mdel = &memDel{memTarget: mem}

func init() {
	targets.Register("test-memdel", func(*targets.Base) (targets.Target, error) { return mdel, nil })
}

func (m *memDel) Delete(_ context.Context, f *targets.File, _ targets.Remote) error {
	m.dmu.Lock()
	defer m.dmu.Unlock()
	m.deleted = append(m.deleted, f.Rel)
	return nil
}

// A rescan that sees a file while it is being uploaded must not make the
// daemon take the after_upload move for a user's deletion and delete the
// object it has just delivered.
func TestRescanDuringUploadWithMoveDoesNotDeleteRemote(t *testing.T) {
	mem.reset()
	mdel.dmu.Lock()
	mdel.deleted = nil
	mdel.dmu.Unlock()
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
		return &targets.Error{Kind: targets.Auth, Op: "test: upload", Status: 401, Msg: "bad token"}
	}
	h := daemontest.Start(t, memTargetYAML, "failed_to: "+failedTo)
	sha := h.WriteRandom(t, "a/report.pdf", 300)
	h.WaitFailed(t, "a/report.pdf")
	daemontest.Eventually(t, "the move to failed_to", func() bool {
		_, err := os.Stat(filepath.Join(failedTo, "a", "report.pdf.error.txt"))
		return err == nil
	})
	mem.mu.Lock()
	mem.fail = nil // the operator fixed the token
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
	mdel.dmu.Lock()
	mdel.deleted = nil
	mdel.dmu.Unlock()
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
	mdel.dmu.Lock()
	mdel.deleted = nil
	mdel.dmu.Unlock()
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
