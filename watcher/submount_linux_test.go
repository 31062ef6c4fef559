package watcher

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func mountTmpfs(t *testing.T, dir string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting needs root")
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
}

func umount(t *testing.T, dir string) {
	t.Helper()
	if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
		t.Fatalf("umount: %v: %s", err, out)
	}
}

// A file system mounted over a folder inside the watch (a share per
// scanner below the drop root, mounted after dropsync started, as at boot
// when the network comes up late) is not looked at: the folder's inotify
// watch stays on the covered folder beneath the mount, the mount table
// change only has the root checked (unchanged), and nothing rescans. A file
// dropped into the mounted folder is never emitted until the reconcile.
func TestFolderMountedInsideTheWatchIsWatched(t *testing.T) {
	root := t.TempDir()
	sub := filepath.Join(root, "scanner")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	c := start(t, Options{Root: root, Recursive: true, Mode: "events"})
	waitFor(t, "the watches", func() bool { return len(c.w.watchList()) == 2 })
	mountTmpfs(t, sub)
	t.Cleanup(func() { exec.Command("umount", sub).Run() })
	if err := os.WriteFile(filepath.Join(sub, "scan.pdf"), []byte("s"), 0o600); err != nil { // another file system: written in place
		t.Fatal(err)
	}
	waitFor(t, "scanner/scan.pdf dropped into the folder mounted inside the watch", func() bool {
		return strings.Contains(c.emitted(), "scanner/scan.pdf")
	})
}

// The reverse: a file system mounted on a folder inside the watch at
// start is unmounted; inotify sends IN_UNMOUNT, which fsnotify turns into
// no event (it only drops the watch), so the folder now visible (the one
// beneath the mount) has no watch and nothing rescans: a file dropped into
// it is never emitted until the reconcile.
func TestFolderUnmountedInsideTheWatchIsWatched(t *testing.T) {
	root := t.TempDir()
	sub := filepath.Join(root, "scanner")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	mountTmpfs(t, sub)
	mounted := true
	t.Cleanup(func() {
		if mounted {
			exec.Command("umount", sub).Run()
		}
	})
	c := start(t, Options{Root: root, Recursive: true, Mode: "events"})
	waitFor(t, "the watches", func() bool { return len(c.w.watchList()) == 2 })
	umount(t, sub)
	mounted = false
	// The kernel drops the watch on the unmounted file system; the
	// watcher's own watch on the folder uncovered may already be in
	// place, so the watch list says nothing certain here.
	write(t, filepath.Join(sub, "scan.pdf"), "s")
	waitFor(t, "scanner/scan.pdf dropped into the folder uncovered by the unmount", func() bool {
		return strings.Contains(c.emitted(), "scanner/scan.pdf")
	})
}
