//go:build linux

package config

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/dropsync/dropsync/internal/hungfs"
)

// every load of a configuration leaves one more goroutine, each
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
	looks := func() int {
		buf := make([]byte, 1<<22)
		buf = buf[:runtime.Stack(buf, true)]
		return strings.Count(string(buf), "created by github.com/dropsync/dropsync/config.look[")
	}
	if _, err := parseBounded(t, fs, y, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	first := looks()
	for range 10 {
		if _, err := parseBounded(t, fs, y, 20*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if n := looks(); n > first {
		t.Fatalf("looks blocked on the hung folder: %d after one load, %d after 11: one more per load, without bound", first, n)
	}
}
