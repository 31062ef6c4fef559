package daemon

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/windows"

	"github.com/dropsync/dropsync/queue"
)

// On Windows `dropsync status` always said "daemon: unknown": Running
// could not tell. It tells running from stopped by the lock file's
// sharing.
func TestRunningOnWindows(t *testing.T) {
	// Not t.TempDir: wine's unlinkat fails its cleanup.
	dir, err := os.MkdirTemp("", "dropsync-lock-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if running, known := Running(dir); running || !known {
		t.Fatalf("no lock file: running %v known %v, want stopped", running, known)
	}
	release, err := lockStateDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if running, known := Running(dir); !running || !known {
		t.Fatalf("lock held: running %v known %v, want running", running, known)
	}
	release()
	if running, known := Running(dir); running || !known {
		t.Fatalf("lock released: running %v known %v, want stopped", running, known)
	}
}

// `dropsync status` (Running) opened the lock file sharing nothing for a
// moment: a daemon starting then could not remove the stale lock file and
// was refused as "in use by another dropsync process". Running's handle
// now shares deletion: the daemon's removal goes through, and its start
// waits until the inspector has closed the file.
func TestWindowsInspectorNeverMakesAStartFail(t *testing.T) {
	dir, err := os.MkdirTemp("", "dropsync-lock-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, queue.LockFileName)
	if err := os.WriteFile(p, []byte("1234\n"), 0o600); err != nil { // left by a crash
		t.Fatal(err)
	}
	h, err := openToInspect(p)
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan error, 1)
	go func() {
		release, err := lockStateDir(dir)
		if err == nil {
			defer release()
		}
		started <- err
	}()
	windows.CloseHandle(h)
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("a daemon starting while status looked at the lock file: %v", err)
		}
	case <-time.After(2 * inspectorWait):
		t.Fatal("the daemon's start did not end")
	}
}
