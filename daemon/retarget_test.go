package daemon_test

import (
	"sync/atomic"
	"testing"

	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/targets"
)

// memB is a second in-memory target, to tell which of two targets a file
// went to.
var memB = &memTarget{files: map[string]string{}, puts: map[string]int{}, vers: map[string][]string{}}

func init() {
	targets.Register("test-memory-b", func(*targets.Base) (targets.Target, error) { return memB, nil })
}

// TestJobQueuedBeforeAReloadRecordsTheTargetItWentTo: a file is queued
// for target a, which refuses it for now; a reload points its watch at
// target b. It is sent to b, and its record says b: the record is what
// the next change is compared with, what a deletion deletes, and whose
// names the clash check reads.
func TestJobQueuedBeforeAReloadRecordsTheTargetItWentTo(t *testing.T) {
	mem.reset()
	memB.reset()
	const head = "state_dir: {{state}}\nretry: {initial: 50ms, max: 100ms}\n" +
		"targets:\n  a:\n    type: test-memory\n    url: http://127.0.0.1:1\n  b:\n    type: test-memory-b\n    url: http://127.0.0.1:2\n"
	var tried atomic.Bool
	mem.mu.Lock()
	mem.fail = func(string) error {
		tried.Store(true)
		return &targets.Error{Kind: targets.Retryable, Op: "test", Msg: "not now"}
	}
	mem.mu.Unlock()
	h := daemontest.StartYAML(t, head+"watches:\n  - path: {{inbox}}\n    target: a\n    settle: 50ms\n")
	sha := h.WriteRandom(t, "x.bin", 100)
	daemontest.Eventually(t, "an attempt at a", tried.Load)
	if err := h.Reload(t, head+"watches:\n  - path: {{inbox}}\n    target: b\n    settle: 50ms\n"); err != nil {
		t.Fatal(err)
	}
	st := h.WaitDelivered(t, "x.bin", sha)
	if got, puts := memB.get("x.bin"); got != sha || puts != 1 {
		t.Fatalf("b holds %s after %d uploads, want %s after 1", got, puts, sha)
	}
	if st.Target != "b" {
		t.Fatalf("delivered to b, recorded as delivered to %q", st.Target)
	}
}
