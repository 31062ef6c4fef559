//go:build linux

package daemon_test

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/dropsync/dropsync/daemon/daemontest"
)

// openFDs counts the process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(es)
}

// A storm of reloads, some concurrent, some while the database is
// held, leaks no goroutine or file descriptor and loses no watch.
func TestReloadStormLeaksNothing(t *testing.T) {
	rr.reset(5 * time.Millisecond)
	b := t.TempDir()
	one := rrConfig(4, map[string]string{"t": "http://t1"}, rrWatch{"{{inbox}}", "t"}, rrWatch{b, "t"})
	h := daemontest.StartYAML(t, one)
	burst(t, h.Inbox, "warm", 5)
	h.WaitIdle(t)
	g0, f0 := runtime.NumGoroutine(), openFDs(t)

	var wg sync.WaitGroup
	for i := range 40 {
		cfg := rrConfig(4, map[string]string{"t": fmt.Sprintf("http://t%d", i)}, rrWatch{"{{inbox}}", "t"})
		if i%2 == 1 {
			cfg = rrConfig(4, map[string]string{"t": fmt.Sprintf("http://t%d", i)}, rrWatch{"{{inbox}}", "t"}, rrWatch{b, "t"})
		}
		if i%5 == 0 {
			wg.Add(1)
			go func() { defer wg.Done(); h.Reload(t, cfg) }()
			continue
		}
		if i == 20 {
			release := holdDB(t, h.StateDir)
			go func() { time.Sleep(1500 * time.Millisecond); release() }()
		}
		if err := h.Reload(t, cfg); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
	}
	wg.Wait()
	if err := h.Reload(t, one); err != nil {
		t.Fatal(err)
	}
	if n := h.Daemon().Watches(); n != 2 {
		t.Fatalf("%d watches run after the storm, want 2", n)
	}
	writeIn(t, b, "after.txt", "x")
	h.WriteFile(t, "after.txt", []byte("y"))
	deliveredFrom(t, h, b, "after.txt")
	deliveredFrom(t, h, h.Inbox, "after.txt")
	h.WaitIdle(t)
	var g1, f1 int
	deadline := time.Now().Add(5 * time.Second)
	for {
		runtime.GC()
		g1, f1 = runtime.NumGoroutine(), openFDs(t)
		if (g1 <= g0+2 && f1 <= f0+2) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if g1 > g0+2 || f1 > f0+2 {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Fatalf("after 41 reloads: goroutines %d → %d, fds %d → %d\n%s", g0, g1, f0, f1, buf[:n])
	}
}
