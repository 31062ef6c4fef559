package daemon_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/targets/sensenet"
)

// swapForLink moves the folder rel of root out of the watch and puts a
// symlink to outside in its place.
func swapForLink(t *testing.T, root, rel, outside string) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.Rename(p, filepath.Join(t.TempDir(), "moved-away")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, p); err != nil {
		t.Fatal(err)
	}
}

// jobEnded waits until the job of rel is done or failed and returns it.
func jobEnded(t *testing.T, h *daemontest.Harness, rel string) *queue.Job {
	t.Helper()
	var job *queue.Job
	daemontest.Eventually(t, rel+" done or failed", func() bool {
		for _, s := range []string{queue.Done, queue.Failed} {
			js, err := h.Queue().Jobs(context.Background(), s, rel, 1)
			if err != nil {
				t.Fatal(err)
			}
			if len(js) > 0 {
				job = js[0]
				return true
			}
		}
		return false
	})
	return job
}

// A remote name's owner whose folder was swapped for a symlink to a folder
// outside the watch no longer exists in the watch, even when the folder
// outside holds a file of its name: the name passes on, and the other
// path's upload becomes the next version instead of failing as a clash
// with a file outside.
func TestNameOwnerBehindASwappedFolderIsGone(t *testing.T) {
	fake := sensenet.NewFake()
	srv := httptest.NewServer(fake)
	t.Cleanup(func() { srv.Close(); fake.Close() })
	second, outside := t.TempDir(), t.TempDir()
	writeIn(t, outside, "Report.txt", "outside the watch")
	dest := "    destination: {path: " + sensenet.DocumentsPath + "}\n    settle: 100ms\n"
	h := daemontest.StartYAML(t, fmt.Sprintf("state_dir: {{state}}\nworkers: 4\nshutdown_timeout: 5s\nretry: {initial: 20ms, max: 200ms}\n"+
		"targets:\n  t:\n    type: sensenet\n    url: %s\n    auth: {type: bearer, token: %s}\n"+
		"watches:\n  - path: {{inbox}}\n    target: t\n%s  - path: %s\n    target: t\n%s", srv.URL, sensenet.DemoToken, dest, second, dest))
	h.WriteFile(t, "sub/Report.txt", []byte("the owner"))
	owner := h.WaitDelivered(t, "sub/Report.txt", "")
	swapForLink(t, h.Inbox, "sub", outside)
	os.Mkdir(filepath.Join(second, "sub"), 0o700)
	writeIn(t, second, "sub/report.txt", "the next version")
	if j := jobEnded(t, h, "sub/report.txt"); j.State != queue.Done {
		t.Fatalf("sub/report.txt: %s (%s); its name's owner lies behind a folder swapped for a link and is gone from the watch", j.State, j.LastError)
	}
	st := deliveredFrom(t, h, second, "sub/report.txt")
	if st.Remote.ID != owner.Remote.ID {
		t.Fatalf("delivered to %+v, want the next version of %+v", st.Remote, owner.Remote)
	}
}

// A file behind a folder swapped for a symlink to a folder outside is gone
// from its watch: its record is pruned after retention.forgotten_state,
// even when the folder outside holds a file of its name (which retention
// must not stat as the file still there).
func TestRecordBehindASwappedFolderIsPruned(t *testing.T) {
	mem.reset()
	outside := t.TempDir()
	writeIn(t, outside, "a.txt", "outside the watch")
	h := daemontest.StartYAML(t, "state_dir: {{state}}\nretention: {done: 200ms, failed: 200ms, forgotten_state: 200ms}\n"+
		"targets:\n  t:\n    type: test-memory\n    url: http://127.0.0.1:1\nwatches:\n  - path: {{inbox}}\n    target: t\n    settle: 100ms\n")
	h.WaitDelivered(t, "sub/a.txt", h.WriteRandom(t, "sub/a.txt", 10))
	h.WaitDelivered(t, "b.txt", h.WriteRandom(t, "b.txt", 10))
	swapForLink(t, h.Inbox, "sub", outside)
	h.WaitForgotten(t, "sub/a.txt")
	if st, err := h.Queue().FileState(context.Background(), h.WatchPath(), "b.txt"); err != nil || st == nil {
		t.Fatalf("the record of a file still in the watch went: %v", err)
	}
}
