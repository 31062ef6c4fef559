package daemon_test

import (
	"bufio"
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
)

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

// A tmpfs mounted at the watch root is unmounted and mounted again: the
// watcher notices, reports unhealthy in between, re-watches and delivers
// the file dropped into the new mount. The files that seem gone meanwhile
// are not deleted on the server (deletes: propagate), in either mode.
func TestRemountAtWatchRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting needs root")
	}
	for _, mode := range []string{"events", "poll"} {
		t.Run(mode, func(t *testing.T) { remount(t, mode) })
	}
}

func remount(t *testing.T, mode string) {
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
	mdel.reset()
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
	h := daemontest.StartYAML(t, "state_dir: {{state}}\nretry: {initial: 20ms, max: 200ms}\ntargets:\n  t: {type: test-memdel, url: http://127.0.0.1:1}\n"+
		"watches:\n  - {path: "+share+", target: t, settle: 100ms, deletes: propagate, mode: "+mode+", poll_interval: 200ms}\n")
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
	mdel.dmu.Lock()
	defer mdel.dmu.Unlock()
	if len(mdel.deleted) > 0 {
		t.Fatalf("remote objects deleted for an unmount: %v", mdel.deleted)
	}
}
