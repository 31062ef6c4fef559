//go:build linux

package config

import (
	"testing"
	"time"

	"github.com/dropsync/dropsync/internal/hungfs"
)

// Every load of a configuration left one more goroutine, each
// holding an OS thread blocked in the kernel, per hung folder: a look left
// behind is not reused by the next load. A daemon reloaded (SIGHUP from
// config management, logrotate) while a share stays dead grows without
// bound, towards Go's 10000-thread limit, where the runtime aborts.
func TestRepeatedLoadsDoNotPileUpLooks(t *testing.T) {
	fs := hungfs.Mount(t)
	old := pathWait
	pathWait = 100 * time.Millisecond
	t.Cleanup(func() { pathWait = old })
	y := hungHead(t.TempDir()) + "  - path: " + fs.Dir + "/in\n    target: t\n"
	fs.Hang()
	looks := fs.Blocked // each look left behind is a call blocked in the file system
	if _, err := parseBounded(t, fs, y, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	first := looks()
	for range 10 {
		if _, err := parseBounded(t, fs, y, 20*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	// A look is shared for a while that doubles with each look of its
	// path still running: 11 loads 100ms apart make 4 of each, not 11.
	if n := looks(); first == 0 || n > 4*first {
		t.Fatalf("looks blocked on the hung folder: %d after one load, %d after 11: one more per load, without bound", first, n)
	}
}
