package daemon

import (
	"os"
	"testing"
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
