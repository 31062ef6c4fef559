package daemon_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/dropsync/dropsync/daemon"
	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/targets"
)

// retryWaits records, per failed retryable attempt of one path, the wait
// the daemon chose before the next attempt.
type retryWaits struct {
	rel   string
	mu    sync.Mutex
	waits []time.Duration
}

func (o *retryWaits) Delivered(daemon.Delivery)             {}
func (o *retryWaits) Progress(string, string, int64, int64) {}
func (o *retryWaits) WatchEvent()                           {}
func (o *retryWaits) Overflow()                             {}
func (o *retryWaits) Failed(f daemon.Failure) {
	if f.Rel != o.rel || f.Final || f.Kind != targets.Retryable {
		return
	}
	o.mu.Lock()
	o.waits = append(o.waits, time.Until(f.RetryAt))
	o.mu.Unlock()
}

func (o *retryWaits) snapshot() []time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]time.Duration(nil), o.waits...)
}

// One file keeps getting a 5xx (sensenet: a content locked by someone
// else; SBM: a record lock) while the target delivers other files fine.
// Retryable failures back off exponentially with jitter (retry.initial
// doubling up to retry.max); the daemon retried it after about
// retry.initial every time, forever (max_attempts 0), a WARN line each.
func TestPersistentFileFailureBacksOff(t *testing.T) {
	mem.reset()
	mem.mu.Lock()
	mem.fail = func(rel string) error {
		if rel == "locked.txt" {
			return &targets.Error{Kind: targets.Retryable, Op: "test: upload", Status: 500, Msg: "The content is locked by someone else"}
		}
		return nil
	}
	mem.mu.Unlock()
	obs := &retryWaits{rel: "locked.txt"}
	h := daemontest.StartObserved(t, obs, memTargetYAML, "") // retry: {initial: 20ms, max: 200ms}
	h.WriteRandom(t, "locked.txt", 100)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // other files keep arriving and are delivered
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			h.WriteRandom(t, fmt.Sprintf("ok-%04d.txt", i), 10)
			h.WaitDelivered(t, fmt.Sprintf("ok-%04d.txt", i), "")
		}
	}()
	daemontest.Eventually(t, "ten retries of locked.txt", func() bool { return len(obs.snapshot()) >= 10 })
	close(stop)
	<-done
	w := obs.snapshot()
	_, puts := mem.get("locked.txt")
	// Exponential backoff from 20ms, capped at 200ms (jitter over its
	// upper half): from the 5th failure on, at least 100ms.
	if last := w[len(w)-1]; last < 100*time.Millisecond {
		t.Fatalf("after %d failures (%d uploads) of one file the next retry is in %s; waits chosen: %v", len(w), puts, last.Round(time.Millisecond), w)
	}
}
