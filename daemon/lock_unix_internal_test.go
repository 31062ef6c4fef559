//go:build !windows

package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/dropsync/dropsync/queue"
)

// holdLock takes p's flock as another process would (its own open file)
// and returns the file; closing it lets go.
func holdLock(t *testing.T, p string, how int) *os.File {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB); err != nil {
		f.Close()
		t.Fatal(err)
	}
	return f
}

// A state dir held shared (an inspector's Running, for a moment) does not
// refuse a daemon: it waits for the inspector to let go. Here the
// inspector lets go when the daemon has found the lock shared (its first
// shared probe), so no timing is involved.
func TestLockWaitsForAnInspector(t *testing.T) {
	dir := t.TempDir()
	inspector := holdLock(t, dir, syscall.LOCK_SH)
	defer inspector.Close()
	probes := 0
	flock = func(fd, how int) error {
		err := syscall.Flock(fd, how)
		if how == syscall.LOCK_SH|syscall.LOCK_NB && err == nil {
			if probes++; probes == 1 {
				inspector.Close()
			}
		}
		return err
	}
	defer func() { flock = syscall.Flock }()
	release, err := lockStateDir(dir)
	if err != nil {
		t.Fatalf("a daemon refused while only an inspector held the lock shared: %v", err)
	}
	defer release()
	if probes == 0 {
		t.Fatal("the lock was never found held: the test tested nothing")
	}
	if running, known := Running(dir); !running || !known {
		t.Errorf("Running = %v, %v while the daemon holds the lock", running, known)
	}
}

// A state dir held exclusively (a daemon; also its lock file alone) refuses
// a second daemon at once, and Running sees it.
func TestLockRefusesAnExclusiveHolder(t *testing.T) {
	for _, which := range []string{"dir", "file"} {
		dir := t.TempDir()
		p := dir
		if which == "file" {
			p = filepath.Join(dir, queue.LockFileName)
			if err := os.WriteFile(p, []byte("4242\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		daemon := holdLock(t, p, syscall.LOCK_EX)
		if running, known := Running(dir); !running || !known {
			t.Errorf("%s: Running = %v, %v while a daemon holds the lock", which, running, known)
		}
		release, err := lockStateDir(dir)
		if err == nil {
			release()
			t.Fatalf("%s: a second daemon took a lock held exclusively", which)
		}
		if !strings.Contains(err.Error(), "in use by another dropsync process") {
			t.Errorf("%s: %v, want in use by another dropsync process", which, err)
		}
		daemon.Close()
	}
}

// A flock error other than "held" (ENOLCK on some NFS mounts) is not
// reported as another dropsync process: it says what it is, and Running
// says it cannot tell.
func TestLockErrorOtherThanHeldSaysWhatItIs(t *testing.T) {
	dir := t.TempDir()
	flock = func(int, int) error { return syscall.ENOLCK }
	defer func() { flock = syscall.Flock }()
	release, err := lockStateDir(dir)
	if err == nil {
		release()
		t.Fatal("lockStateDir succeeded although flock failed")
	}
	msg := err.Error()
	if strings.Contains(msg, "in use") || !strings.Contains(msg, syscall.ENOLCK.Error()) || !strings.Contains(msg, dir) {
		t.Errorf("got %q, want the flock error naming %s, not 'in use'", msg, dir)
	}
	if running, known := Running(dir); running || known {
		t.Errorf("Running = %v, %v when flock fails, want false, false (cannot tell)", running, known)
	}
}
