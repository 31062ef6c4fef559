//go:build linux

package config

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dropsync/dropsync/internal/hungfs"
)

// A look blocked on a mount that hangs is shared by every later
// load for as long as the old mount hangs, even once the path answers
// again. The usual way out of a dead hard NFS mount is `umount -l` (the
// calls blocked in it stay blocked, for ever if the server is gone) and a
// new mount, or the local folder, at the same path; but every later load
// (each reload) waits pathWait on the old look, warns that the folder
// "did not answer", and does not check it: here a watch path that is now
// a plain file is accepted, where a load without the stale look refuses
// it as not a directory.
func TestAStaleLookOnADetachedMountIsNotShared(t *testing.T) {
	fs := hungfs.Mount(t)
	old := pathWait
	pathWait = 200 * time.Millisecond
	t.Cleanup(func() { pathWait = old })
	in := filepath.Join(fs.Dir, "in")
	y := hungHead(t.TempDir()) + "  - path: " + in + "\n    target: t\n"
	fs.Hang()
	if _, err := parseBounded(t, fs, y, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	// The operator detaches the dead mount; the path is now the local
	// folder under it, where "in" is a plain file.
	if err := syscall.Unmount(fs.Dir, syscall.MNT_DETACH); err != nil {
		t.Skipf("cannot detach the mount: %v", err)
	}
	t.Cleanup(func() {
		// Put a mount back on the mount point for hungfs's own unmount.
		os.Remove(in)
		if err := syscall.Mount(t.TempDir(), fs.Dir, "", syscall.MS_BIND, ""); err != nil {
			t.Errorf("bind mount for the clean-up: %v", err)
		}
	})
	if err := os.WriteFile(in, []byte("not a folder"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(in); err != nil {
		t.Fatalf("the path does not answer after the detach: %v", err)
	}
	c, err := parseBounded(t, fs, y, 20*time.Second)
	if err == nil || !strings.Contains(err.Error(), "not a directory") {
		var warnings []string
		if c != nil {
			warnings = c.Warnings
		}
		t.Fatalf("a watch path that is now a plain file, on a path that answers again: err %v, warnings %q: the load reused the look still blocked in the detached mount", err, warnings)
	}
}
