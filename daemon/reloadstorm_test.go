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
// held, leaks no goroutine or file descriptor and loses no watch. The
// count after a first storm is the baseline (goroutines the daemon starts
// lazily exist by then); a second storm must not add to it.
func TestReloadStormLeaksNothing(t *testing.T) {
	rr.reset(5 * time.Millisecond)
	b := t.TempDir()
	one := rrConfig(4, map[string]string{"t": "http://t1"}, rrWatch{"{{inbox}}", "t"}, rrWatch{b, "t"})
	h := daemontest.StartYAML(t, one)
	storm := func(round int) {
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
				go func() { time.Sleep(1500 * time.Millisecond); release() }() // the database held for a while
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
		name := fmt.Sprintf("after%d.txt", round)
		writeIn(t, b, name, "x")
		h.WriteFile(t, name, []byte("y"))
		deliveredFrom(t, h, b, name)
		deliveredFrom(t, h, h.Inbox, name)
		h.WaitIdle(t)
	}
	storm(1)
	g0, f0 := runtime.NumGoroutine(), openFDs(t)
	storm(2)
	// A leak per reload shows as 41 or more.
	const slack = 10
	var g1, f1 int
	deadline := time.Now().Add(5 * time.Second)
	for {
		runtime.GC()
		g1, f1 = runtime.NumGoroutine(), openFDs(t)
		if (g1 <= g0+slack && f1 <= f0+slack) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if g1 > g0+slack || f1 > f0+slack {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Fatalf("41 more reloads: goroutines %d → %d, fds %d → %d\n%s", g0, g1, f0, f1, buf[:n])
	}
}
