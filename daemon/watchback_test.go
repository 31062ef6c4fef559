package daemon_test

import (
	"context"
	"testing"
	"time"

	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/targets"
)

// A watch removed by a reload while its file waits for a retry, and added
// back later, delivers that file: the job of a watch no longer configured
// is dropped, not failed, so the file's state is not "this very state
// failed" (which the returning watch's scan skipped, for good).
func TestWatchRemovedAndAddedBackDeliversItsPendingFile(t *testing.T) {
	mem.reset()
	other := t.TempDir()
	conf := func(watches ...string) string {
		y := "state_dir: {{state}}\nworkers: 2\nshutdown_timeout: 5s\nretry: {initial: 20ms, max: 200ms}\n" +
			"targets:\n  t:\n    type: test-memory\n    url: http://127.0.0.1:1\nwatches:\n"
		for _, w := range watches {
			y += "  - path: " + w + "\n    target: t\n    settle: 100ms\n"
		}
		return y
	}
	mem.mu.Lock()
	mem.fail = func(rel string) error {
		if rel == "a.txt" {
			return &targets.Error{Kind: targets.Retryable, Op: "test: upload", Status: 500, Msg: "locked by someone else"}
		}
		return nil
	}
	mem.mu.Unlock()
	h := daemontest.StartYAML(t, conf("{{inbox}}", other))
	sha := h.WriteRandom(t, "a.txt", 100)
	daemontest.Eventually(t, "a first attempt", func() bool { _, p := mem.get("a.txt"); return p >= 1 })
	if err := h.Reload(t, conf(other)); err != nil {
		t.Fatal(err)
	}
	daemontest.Eventually(t, "the job dropped", func() bool {
		js, err := h.Queue().Jobs(context.Background(), "", "a.txt", 10)
		return err == nil && len(js) == 0
	})
	mem.mu.Lock()
	mem.fail = nil
	mem.mu.Unlock()
	if err := h.Reload(t, conf("{{inbox}}", other)); err != nil {
		t.Fatal(err)
	}
	defer func(d time.Duration) { daemontest.Timeout = d }(daemontest.Timeout)
	daemontest.Timeout = 10 * time.Second
	h.WaitDelivered(t, "a.txt", sha)
}
