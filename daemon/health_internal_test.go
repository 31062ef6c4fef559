package daemon

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/targets"
)

// Changes of a target's state race (a probe succeeds while an upload that
// was in flight fails); whatever the order, the state recorded in the
// queue, which decides what is claimed, is the one the daemon holds.
func TestRecordedHealthIsTheLastDecided(t *testing.T) {
	ctx := context.Background()
	q, err := queue.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	h := newBareDaemon(q).health
	for round := range 50 {
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if i%2 == 0 {
					h.failed(ctx, "t", targets.Unreachable, 0, errors.New("connection refused"))
				} else {
					h.setUp(ctx, "t", "a delivery succeeded")
				}
			}()
		}
		wg.Wait()
		rec, err := q.TargetsHealth(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if mem := h.states()[0].State; rec["t"].State != mem {
			t.Fatalf("round %d: the daemon holds %q, the queue records %q", round, mem, rec["t"].State)
		}
	}
}

// newBareDaemon returns a daemon on q with one target "t", its health
// component and one upload slot, and nothing running.
func newBareDaemon(q *queue.Queue) *Daemon {
	d := &Daemon{q: q, log: slog.New(slog.NewTextHandler(io.Discard, nil)), wake: newSignal(), throttle: map[string]int{},
		handoffs: map[int64]*handoff{}, pipe: newPipeline(1),
		cfg: &config.Config{Targets: map[string]*config.Target{"t": {}},
			Retry: config.Retry{Initial: config.Duration(time.Second), Max: config.Duration(time.Minute), MaxPause: config.Duration(time.Hour)}}}
	d.health = newHealth(d)
	return d
}
