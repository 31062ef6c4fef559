package daemon_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/targets"
)

// A reload that excludes a path (here draft/**: drafts were being
// picked up by mistake) leaves the jobs already queued for such files to
// run: process never asks whether the file is still wanted by its watch,
// so a pending or retrying job for a file the watch no longer covers is
// uploaded after the reload (and with after_upload: delete or move, the
// excluded file would be deleted or moved; not proven here). A removed
// watch's jobs are dropped; an excluded path's are not.
func TestReloadThatExcludesAFileStopsItsQueuedJob(t *testing.T) {
	mem.reset()
	const head = "state_dir: {{state}}\nretry: {initial: 50ms, max: 100ms}\n" +
		"targets:\n  a:\n    type: test-memory\n    url: http://127.0.0.1:1\n"
	var tried atomic.Bool
	mem.mu.Lock()
	mem.fail = func(rel string) error {
		if rel == "draft/x.pdf" {
			tried.Store(true)
			return &targets.Error{Kind: targets.Retryable, Op: "test", Msg: "not now"}
		}
		return nil
	}
	mem.mu.Unlock()
	h := daemontest.StartYAML(t, head+"watches:\n  - path: {{inbox}}\n    target: a\n    settle: 50ms\n")
	h.WriteRandom(t, "draft/x.pdf", 100)
	daemontest.Eventually(t, "an attempt at draft/x.pdf", tried.Load)
	if err := h.Reload(t, head+"watches:\n  - path: {{inbox}}\n    target: a\n    settle: 50ms\n    exclude: [\"draft/**\"]\n"); err != nil {
		t.Fatal(err)
	}
	mem.mu.Lock()
	mem.fail = nil
	mem.mu.Unlock()
	daemontest.Eventually(t, "draft/x.pdf's job no longer pending or leased", func() bool {
		for _, s := range []string{"pending", "leased"} {
			js, err := h.Queue().Jobs(context.Background(), s, "draft/x.pdf", 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(js) > 0 {
				return false
			}
		}
		return true
	})
	if got, _ := mem.get("draft/x.pdf"); got != "" {
		t.Fatal("draft/x.pdf, excluded by the reload before it was sent, was uploaded")
	}
}
