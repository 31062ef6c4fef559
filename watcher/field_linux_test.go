package watcher

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// auto decides by the file system statfs reports: network and FUSE file
// systems are polled, local ones use events; events and poll are taken
// as configured.
func TestAutoModeDecidesByFileSystem(t *testing.T) {
	old := statfs
	t.Cleanup(func() { statfs = old }) // after the watcher stopped
	for _, tc := range []struct {
		magic int64
		poll  bool
		name  string
	}{
		{0x6969, true, "nfs"}, {0xff534d42, true, "cifs"}, {0xfe534d42, true, "smb2"}, {0x517b, true, "smb"},
		{0x01021997, true, "9p"}, {0x65735546, true, "fuse"}, {0xef53, false, "ext4"}, {0x58465342, false, "xfs"}, {0x1234, false, "0x1234"},
	} {
		statfs = func(string, *unix.Statfs_t) error { return nil }
		magic := tc.magic
		statfs = func(_ string, st *unix.Statfs_t) error { st.Type = magic; return nil }
		d := Decide("auto", "/x")
		if d.Poll != tc.poll || !strings.Contains(d.Reason, tc.name) {
			t.Errorf("magic 0x%x: %+v, want poll %v naming %s", tc.magic, d, tc.poll, tc.name)
		}
	}
	statfs = func(string, *unix.Statfs_t) error { return syscall.ENOENT }
	if d := Decide("auto", "/x"); d.Poll {
		t.Errorf("unknown file system: %+v", d)
	}
	statfs = func(_ string, st *unix.Statfs_t) error { st.Type = 0x6969; return nil }
	if d := Decide("events", "/x"); d.Poll {
		t.Errorf("events on nfs: %+v", d)
	}
	statfs = func(_ string, st *unix.Statfs_t) error { st.Type = 0xef53; return nil }
	if d := Decide("poll", "/x"); !d.Poll {
		t.Errorf("poll on ext4: %+v", d)
	}

	// A watch whose root statfs calls NFS holds no inotify instance and still
	// finds new files and deletions.
	statfs = func(_ string, st *unix.Statfs_t) error { st.Type = 0x6969; return nil }
	root := t.TempDir()
	write(t, filepath.Join(root, "sub", "a.txt"), "a")
	c := start(t, Options{Root: root, Recursive: true, EmitDeletes: true, PollInterval: 50 * time.Millisecond})
	waitFor(t, "a.txt", func() bool { return len(c.rels()) == 1 })
	if c.w.inotify() != nil { // not even an inotify instance
		t.Fatalf("inotify watches %v on an nfs root", c.w.watchList())
	}
	write(t, filepath.Join(root, "sub", "b.txt"), "b")
	os.Remove(filepath.Join(root, "sub", "a.txt"))
	waitFor(t, "b.txt and the deletion", func() bool { return len(c.rels()) == 3 })
	if got := strings.Join(c.rels(), ","); got != "sub/a.txt,sub/a.txt (gone),sub/b.txt" {
		t.Fatalf("events %s", got)
	}
}
