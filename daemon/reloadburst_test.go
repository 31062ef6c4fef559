package daemon_test

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/targets"
)

// rrLog records every Put per client URL; each Put takes rrDelay, so a
// burst keeps uploads in flight.
type rrLog struct {
	mu    sync.Mutex
	puts  map[string]int // url + " " + watch-base/rel → Puts that returned success
	delay time.Duration
}

var rr = &rrLog{puts: map[string]int{}}

func (l *rrLog) reset(delay time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.puts, l.delay = map[string]int{}, delay
}

func (l *rrLog) snapshot() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := make(map[string]int, len(l.puts))
	for k, v := range l.puts {
		m[k] = v
	}
	return m
}

type rrTarget struct{ url string }

func init() {
	targets.Register("rr-client", func(b *targets.Base) (targets.Target, error) { return &rrTarget{url: b.Config.URL}, nil })
}

func (c *rrTarget) Watch(w *config.Watch) (any, error) { return nil, w.Destination.Decode() }
func (c *rrTarget) Prepare(_ context.Context, f *targets.File) (*targets.Plan, error) {
	return &targets.Plan{Name: f.Name()}, nil
}
func (c *rrTarget) Put(ctx context.Context, f *targets.File, _ *targets.Plan, body *targets.Body) (targets.Remote, error) {
	rr.mu.Lock()
	delay := rr.delay
	rr.mu.Unlock()
	if _, err := io.Copy(io.Discard, body); err != nil {
		return targets.Remote{}, err
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return targets.Remote{}, ctx.Err()
	}
	rr.mu.Lock()
	rr.puts[c.url+" "+filepath.Base(f.Watch)+"/"+f.Rel]++
	rr.mu.Unlock()
	return targets.Remote{ID: f.Rel, Name: f.Name(), Version: "1"}, nil
}
func (c *rrTarget) Close() error { return nil }

type rrWatch struct{ path, target string }

func rrConfig(workers int, tgts map[string]string, ws ...rrWatch) string {
	var b strings.Builder
	fmt.Fprintf(&b, "state_dir: {{state}}\nworkers: %d\nshutdown_timeout: 5s\nretry: {initial: 20ms, max: 200ms}\ntargets:\n", workers)
	for n, u := range tgts {
		fmt.Fprintf(&b, "  %s:\n    type: rr-client\n    url: %s\n", n, u)
	}
	b.WriteString("watches:\n")
	for _, w := range ws {
		fmt.Fprintf(&b, "  - path: %s\n    target: %s\n    settle: 50ms\n", w.path, w.target)
	}
	return b.String()
}

func burst(t *testing.T, dir, prefix string, n int) []string {
	t.Helper()
	var rels []string
	for i := range n {
		rel := fmt.Sprintf("%s%03d.txt", prefix, i)
		writeIn(t, dir, rel, rel+" content")
		rels = append(rels, rel)
	}
	return rels
}

func jobCounts(t *testing.T, h *daemontest.Harness) map[string]int {
	t.Helper()
	c, err := h.Queue().Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitSomeDone waits until at least n successful Puts happened.
func waitSomePuts(t *testing.T, n int) {
	t.Helper()
	daemontest.Eventually(t, fmt.Sprintf("%d puts", n), func() bool {
		s := 0
		for _, v := range rr.snapshot() {
			s += v
		}
		return s >= n
	})
}

// a burst in flight while a reload changes a target's url, moves a
// watch to another target and removes a watch: every file of the kept
// watches arrives, exactly once per client, at the right target, and
// nothing stays pending or leased.
func TestReloadDuringABurstDeliversEachFileOnce(t *testing.T) {
	rr.reset(20 * time.Millisecond)
	b := t.TempDir()
	c := t.TempDir()
	h := daemontest.StartYAML(t, rrConfig(4, map[string]string{"t": "http://t1", "u": "http://u1"},
		rrWatch{"{{inbox}}", "t"}, rrWatch{b, "t"}, rrWatch{c, "u"}))
	a := filepath.Base(h.Inbox)
	as := burst(t, h.Inbox, "a", 60)
	burst(t, b, "b", 60)
	cs := burst(t, c, "c", 60)
	waitSomePuts(t, 10)
	// t's url changes, watch b is removed, watch c moves from u to t, and
	// workers change.
	if err := h.Reload(t, rrConfig(2, map[string]string{"t": "http://t2", "u": "http://u1"},
		rrWatch{"{{inbox}}", "t"}, rrWatch{c, "t"})); err != nil {
		t.Fatalf("reload: %v", err)
	}
	as = append(as, burst(t, h.Inbox, "late-a", 20)...)
	cs = append(cs, burst(t, c, "late-c", 20)...)
	h.WaitIdle(t)
	time.Sleep(500 * time.Millisecond) // a late rescan would requeue
	h.WaitIdle(t)
	puts := rr.snapshot()
	for _, rel := range as {
		n := puts["http://t1 "+a+"/"+rel] + puts["http://t2 "+a+"/"+rel]
		if n != 1 {
			t.Errorf("%s/%s: %d deliveries to t, want 1", a, rel, n)
		}
		if st := deliveredFrom(t, h, h.Inbox, rel); st.Target != "t" {
			t.Errorf("%s recorded for target %q", rel, st.Target)
		}
	}
	cb := filepath.Base(c)
	for _, rel := range cs {
		if n := puts["http://t2 "+cb+"/"+rel]; n != 1 {
			t.Errorf("%s/%s: %d deliveries to t (its new target), want 1", cb, rel, n)
		}
		if st := deliveredFrom(t, h, c, rel); st.Target != "t" {
			t.Errorf("%s recorded for target %q, want t", rel, st.Target)
		}
	}
	for k, v := range puts {
		if v > 1 {
			t.Errorf("%s delivered %d times", k, v)
		}
	}
	cnt := jobCounts(t, h)
	if cnt[queue.Pending] != 0 || cnt[queue.Leased] != 0 || cnt[queue.Failed] != 0 {
		t.Errorf("jobs left: %v", cnt)
	}
}
