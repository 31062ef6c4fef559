package daemon_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/dropsync/dropsync/daemon"
	"github.com/dropsync/dropsync/daemon/daemontest"
)

// afterUploadCounter is an Observer that counts failed after_upload
// actions.
type afterUploadCounter struct {
	daemon.Observers
	mu     sync.Mutex
	failed map[string]int // watch/action → count
}

func (c *afterUploadCounter) AfterUploadFailed(watch, action string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failed[watch+" "+action]++
}

func (c *afterUploadCounter) count(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failed[key]
}

// A failing after_upload move used to be only logged: status showed no
// failure and no metric counted it. It is recorded in the queue (status)
// and told to observers (metrics) until a later attempt succeeds.
func TestFailedAfterUploadMoveIsCounted(t *testing.T) {
	mem.reset()
	blocker := filepath.Join(t.TempDir(), "not-a-folder")
	if err := os.WriteFile(blocker, []byte("a file where move_to's folder should be"), 0o600); err != nil {
		t.Fatal(err)
	}
	obs := &afterUploadCounter{failed: map[string]int{}}
	h := daemontest.StartObserved(t, daemon.Observers{obs}, "type: test-memory\nurl: http://127.0.0.1:1\n", "after_upload: move\nmove_to: "+filepath.Join(blocker, "done"))
	h.WriteFile(t, "a.txt", []byte("delivered, but cannot be moved"))
	h.WaitDelivered(t, "a.txt", "")
	key := h.WatchPath() + " move"
	daemontest.Eventually(t, "the failed move to reach the observer", func() bool { return obs.count(key) > 0 })
	n, recent, err := h.Queue().AfterUploadFailures(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 || len(recent) != 1 || recent[0].Rel != "a.txt" || recent[0].Action != "move" || !strings.Contains(recent[0].Error, "not a directory") {
		t.Fatalf("recorded after_upload failures: %d %+v", n, recent)
	}
}
