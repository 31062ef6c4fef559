package daemon_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/metrics"
	"github.com/dropsync/dropsync/queue"
)

// within polls cond every 10ms and fails the test when it does not hold
// within d: for promises of the form "within a few seconds".
func within(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within %s", what, d)
		}
		<-tick.C
	}
}

func delivered(t *testing.T, h *daemontest.Harness, watch, rel string) bool {
	t.Helper()
	s, err := h.Queue().FileState(context.Background(), watch, rel)
	if err != nil {
		t.Fatal(err)
	}
	return s != nil
}

// inotifyMarks counts the inotify watches this process holds on the inode
// of dir, from /proc/self/fdinfo.
func inotifyMarks(t *testing.T, dir string) int {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	want := "ino:" + strconv.FormatUint(st.Ino, 16) + " "
	fds, err := os.ReadDir("/proc/self/fdinfo")
	if err != nil {
		t.Skip("no /proc/self/fdinfo")
	}
	n := 0
	for _, fd := range fds {
		f, err := os.Open(filepath.Join("/proc/self/fdinfo", fd.Name()))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if l := sc.Text(); strings.HasPrefix(l, "inotify ") && strings.Contains(l, want) {
				n++
			}
		}
		f.Close()
	}
	return n
}

// A watch in poll mode (what auto picks for a network share, whose
// writes by other machines inotify never sees) holds no inotify watch on
// its folder and still delivers within poll_interval + settle.
func TestPollModeDeliversWithoutInotify(t *testing.T) {
	mem.reset()
	h := daemontest.Start(t, "type: test-memory\nurl: http://127.0.0.1:1\n", "mode: poll\npoll_interval: 500ms\nsettle: 100ms")
	if err := os.Mkdir(filepath.Join(h.Inbox, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	h.WriteFile(t, "first.txt", []byte("one"))
	h.WaitDelivered(t, "first.txt", "")
	for _, d := range []string{h.Inbox, filepath.Join(h.Inbox, "sub")} {
		if n := inotifyMarks(t, d); n != 0 {
			t.Fatalf("%d inotify watch(es) on %s in poll mode", n, d)
		}
	}
	start := time.Now()
	h.WriteFile(t, "sub/second.txt", []byte("two"))
	h.WaitDelivered(t, "sub/second.txt", "")
	// poll_interval + settle, plus room for a loaded test machine.
	if took := time.Since(start); took > 500*time.Millisecond+100*time.Millisecond+time.Second {
		t.Fatalf("delivered after %s, want within poll_interval + settle", took)
	}
	// A deletion is seen by the next poll too.
	h.Remove(t, "sub/second.txt")
	h.WriteFile(t, "third.txt", []byte("3"))
	h.WaitDelivered(t, "third.txt", "")
}

// A watch root that is missing at start (a share not mounted yet) does
// not stop the daemon: the other watch delivers, and the missing one
// starts when its folder appears.
func TestMissingWatchRootAtStartWaits(t *testing.T) {
	mem.reset()
	later := filepath.Join(t.TempDir(), "share")
	h := daemontest.StartYAML(t, "state_dir: {{state}}\nretry: {initial: 20ms, max: 200ms}\ntargets:\n  t: {type: test-memory, url: http://127.0.0.1:1}\n"+
		"watches:\n  - {path: {{inbox}}, target: t, settle: 100ms}\n  - {path: "+later+", target: t, settle: 100ms}\n")
	h.WriteFile(t, "here.txt", []byte("here"))
	h.WaitDelivered(t, "here.txt", "")
	if err := h.Daemon().Health(context.Background()); err == nil || !strings.Contains(err.Error(), later) {
		t.Fatalf("health with a missing watch root: %v", err)
	}
	if err := os.Mkdir(later, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(later, "late.txt"), []byte("late"), 0o600); err != nil {
		t.Fatal(err)
	}
	within(t, 10*time.Second, "delivery from the watch whose folder appeared", func() bool { return delivered(t, h, later, "late.txt") })
	within(t, 5*time.Second, "health ok", func() bool { return h.Daemon().Health(context.Background()) == nil })
}

// An enqueue that fails (here: another process holds the database's write
// lock past the busy timeout) is retried: neither the new files nor the
// deletion of a delivered one wait for the hourly reconcile.
func TestFailedEnqueueIsRetried(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out the database's 10s busy timeout")
	}
	mem.reset()
	mdel.dmu.Lock()
	mdel.deleted = nil
	mdel.dmu.Unlock()
	h := daemontest.Start(t, "type: test-memdel\nurl: http://127.0.0.1:1\n", "deletes: propagate")
	h.WriteFile(t, "old.txt", []byte("old"))
	h.WaitDelivered(t, "old.txt", "")
	h.WaitIdle(t)

	db, err := sql.Open("sqlite3", "file:"+filepath.Join(h.StateDir, queue.FileName)+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		h.WriteFile(t, fmt.Sprintf("new%02d.txt", i), []byte{byte(i)})
	}
	h.Remove(t, "old.txt")
	within(t, 30*time.Second, "the watch reporting that it cannot queue", func() bool {
		err := h.Daemon().Health(context.Background())
		return err != nil && strings.Contains(err.Error(), "queue")
	})
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	freed := time.Now()
	within(t, 15*time.Second, "every file delivered after the lock went", func() bool {
		for i := range 30 {
			if !delivered(t, h, h.WatchPath(), fmt.Sprintf("new%02d.txt", i)) {
				return false
			}
		}
		return !delivered(t, h, h.WatchPath(), "old.txt")
	})
	t.Logf("delivered %s after the database was free again", time.Since(freed).Round(time.Millisecond))
	mdel.dmu.Lock()
	defer mdel.dmu.Unlock()
	if len(mdel.deleted) != 1 || mdel.deleted[0] != "old.txt" {
		t.Fatalf("remote deletions %v, want [old.txt]", mdel.deleted)
	}
}

// A tmpfs mounted at the watch root is unmounted and mounted again: the
// watcher notices, reports unhealthy in between, re-watches and delivers
// the file dropped into the new mount.
func TestRemountAtWatchRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting needs root")
	}
	mount := func(dir string) {
		t.Helper()
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
			t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
		}
	}
	umount := func(dir string) {
		t.Helper()
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Fatalf("umount: %v: %s", err, out)
		}
	}
	mem.reset()
	share := filepath.Join(t.TempDir(), "share")
	if err := os.Mkdir(share, 0o700); err != nil {
		t.Fatal(err)
	}
	mount(share)
	mounted := true
	t.Cleanup(func() {
		if mounted {
			exec.Command("umount", share).Run()
		}
	})
	h := daemontest.StartYAML(t, "state_dir: {{state}}\nretry: {initial: 20ms, max: 200ms}\ntargets:\n  t: {type: test-memory, url: http://127.0.0.1:1}\n"+
		"watches:\n  - {path: "+share+", target: t, settle: 100ms}\n")
	m := metrics.New()
	m.Attach(h.Daemon())
	web := httptest.NewServer(m.Handler())
	defer web.Close()
	healthz := func() int {
		resp, err := http.Get(web.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if err := os.WriteFile(filepath.Join(share, "a.txt"), []byte("a"), 0o600); err != nil {
		t.Fatal(err)
	}
	within(t, 5*time.Second, "a.txt delivered", func() bool { return delivered(t, h, share, "a.txt") })
	if c := healthz(); c != http.StatusOK {
		t.Fatalf("healthz %d before the unmount", c)
	}
	umount(share)
	mounted = false
	within(t, 5*time.Second, "healthz 503 while the share is unmounted", func() bool { return healthz() == http.StatusServiceUnavailable })
	mount(share)
	mounted = true
	if err := os.WriteFile(filepath.Join(share, "b.txt"), []byte("b"), 0o600); err != nil {
		t.Fatal(err)
	}
	within(t, 6*time.Second, "b.txt delivered from the new mount", func() bool { return delivered(t, h, share, "b.txt") })
	within(t, 5*time.Second, "healthz 200 again", func() bool { return healthz() == http.StatusOK })
	h.Stop()
}

// Completion markers through the daemon: a file goes only with its
// "{name}.done" marker, the marker is never uploaded and is removed after
// the delivery and its after_upload.
func TestReadyMarkerPerFile(t *testing.T) {
	mem.reset()
	moveTo := t.TempDir()
	h := daemontest.Start(t, "type: test-memory\nurl: http://127.0.0.1:1\n", "ready_marker: \"{name}.done\"\nafter_upload: move\nmove_to: "+moveTo)
	h.WriteFile(t, "a.pdf", []byte("a"))
	h.WriteFile(t, "b.pdf", []byte("b"))
	h.WriteFile(t, "b.pdf.done", nil)
	h.WaitDelivered(t, "b.pdf", "")
	// a.pdf settled no later than b.pdf: without its marker it is not queued.
	if js, err := h.Queue().Jobs(context.Background(), "", "a.pdf", 0); err != nil || len(js) != 0 {
		t.Fatalf("a.pdf queued without its marker: %v %v", js, err)
	}
	within(t, 5*time.Second, "b.pdf.done removed", func() bool {
		_, err := os.Stat(filepath.Join(h.Inbox, "b.pdf.done"))
		return os.IsNotExist(err)
	})
	h.WriteFile(t, "a.pdf.done", nil)
	h.WaitDelivered(t, "a.pdf", "")
	within(t, 5*time.Second, "a.pdf moved and its marker removed", func() bool {
		_, err1 := os.Stat(filepath.Join(moveTo, "a.pdf"))
		_, err2 := os.Stat(filepath.Join(h.Inbox, "a.pdf.done"))
		return err1 == nil && os.IsNotExist(err2)
	})
	for _, m := range []string{"a.pdf.done", "b.pdf.done"} {
		if _, puts := mem.get(m); puts != 0 {
			t.Fatalf("marker %s uploaded", m)
		}
	}
}

// A "{dir}/.ready" marker releases its whole folder and is removed once
// the folder's files are delivered; with ready_marker_keep it stays.
func TestReadyMarkerPerFolder(t *testing.T) {
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprintf("keep %v", keep), func(t *testing.T) {
			mem.reset()
			h := daemontest.StartYAML(t, "state_dir: {{state}}\nworkers: 1\nretry: {initial: 20ms, max: 200ms}\ntargets:\n  t: {type: test-memory, url: http://127.0.0.1:1}\n"+
				"watches:\n  - {path: {{inbox}}, target: t, settle: 100ms, order: name, ready_marker: \"{dir}/.ready\", ready_marker_keep: "+strconv.FormatBool(keep)+"}\n")
			h.WriteFile(t, "batch/1.pdf", []byte("1"))
			h.WriteFile(t, "batch/2.pdf", []byte("2"))
			h.WriteFile(t, "other/9.pdf", []byte("9"))
			h.WriteFile(t, "other/.ready", nil)
			h.WaitDelivered(t, "other/9.pdf", "")
			if js, _ := h.Queue().Jobs(context.Background(), "", "batch/1.pdf", 0); len(js) != 0 {
				t.Fatal("batch/1.pdf queued before its folder's marker")
			}
			h.WriteFile(t, "batch/.ready", nil)
			h.WaitDelivered(t, "batch/1.pdf", "")
			h.WaitDelivered(t, "batch/2.pdf", "")
			// One worker, in name order: z.pdf is delivered after batch/*
			// is completely handled, marker included.
			h.WriteFile(t, "z.pdf", []byte("z"))
			h.WriteFile(t, ".ready", nil)
			h.WaitDelivered(t, "z.pdf", "")
			_, err := os.Stat(filepath.Join(h.Inbox, "batch", ".ready"))
			if keep != (err == nil) {
				t.Fatalf("ready_marker_keep %v: batch/.ready stat: %v", keep, err)
			}
		})
	}
}

// min_age: a file waits until its mtime is that old.
func TestMinAgeHoldsYoungFiles(t *testing.T) {
	mem.reset()
	h := daemontest.Start(t, "type: test-memory\nurl: http://127.0.0.1:1\n", "min_age: 1s")
	h.WriteFile(t, "young.txt", []byte("y"))
	fi, err := os.Stat(filepath.Join(h.Inbox, "young.txt"))
	if err != nil {
		t.Fatal(err)
	}
	st := h.WaitDelivered(t, "young.txt", "")
	if age := st.DeliveredAt.Sub(fi.ModTime()); age < time.Second {
		t.Fatalf("delivered %s after its mtime, before min_age", age)
	}
}

// order: a backlog is claimed in the watch's order, oldest (mtime) or name.
func TestClaimOrderPerWatch(t *testing.T) {
	for _, tc := range []struct{ order, want string }{
		{"oldest", "b.txt,c.txt,a.txt"},
		{"name", "a.txt,b.txt,c.txt"},
	} {
		t.Run(tc.order, func(t *testing.T) {
			mem.reset()
			block := make(chan struct{})
			mem.block = block
			var seq []string
			mem.fail = func(rel string) error {
				seq = append(seq, rel) // one worker: no concurrent calls
				return nil
			}
			h := daemontest.StartYAML(t, "state_dir: {{state}}\nworkers: 1\nretry: {initial: 20ms, max: 200ms}\ntargets:\n  t: {type: test-memory, url: http://127.0.0.1:1}\n"+
				"watches:\n  - {path: {{inbox}}, target: t, settle: 100ms, order: "+tc.order+"}\n")
			h.WriteFile(t, "first.txt", []byte("first"))
			daemontest.Eventually(t, "the first upload to block", func() bool { _, p := mem.get("first.txt"); return p == 1 })
			now := time.Now()
			// Arrival order c, a, b: neither order's answer.
			for _, f := range []struct {
				name string
				age  time.Duration
			}{{"c.txt", time.Hour}, {"a.txt", time.Minute}, {"b.txt", 3 * time.Hour}} {
				name, age := f.name, f.age
				h.WriteFile(t, name, []byte(name))
				if err := os.Chtimes(filepath.Join(h.Inbox, name), now.Add(-age), now.Add(-age)); err != nil {
					t.Fatal(err)
				}
			}
			daemontest.Eventually(t, "the backlog", func() bool {
				c, _ := h.Queue().Counts(context.Background())
				return c[queue.Pending] == 3
			})
			mem.mu.Lock()
			mem.block = nil
			mem.mu.Unlock()
			close(block)
			h.WaitIdle(t)
			h.Stop()
			if got := strings.Join(seq[1:], ","); got != tc.want {
				t.Fatalf("order %s: uploads %s, want %s", tc.order, got, tc.want)
			}
		})
	}
}
