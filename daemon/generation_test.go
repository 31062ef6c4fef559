package daemon_test

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/targets"
)

// lostAnswers is the test-lost-answer target's state: an upload of a rel
// in hold waits half-way until released, then loses its answer (an
// ambiguous failure).
var lostAnswers = struct {
	mu      sync.Mutex
	hold    map[string]chan struct{}
	started map[string]chan struct{}
}{hold: map[string]chan struct{}{}, started: map[string]chan struct{}{}}

// lostAnswerTarget is test-lost-answer: it replaces what it stored
// (neither a Verifier nor a ResendLimiter).
type lostAnswerTarget struct{}

// resendLimited is test-resend-limited: the same, but a ResendLimiter
// that never sends an ambiguous upload again.
type resendLimited struct{ lostAnswerTarget }

func init() {
	targets.Register("test-lost-answer", func(*targets.Base) (targets.Target, error) { return &lostAnswerTarget{}, nil })
	targets.Register("test-resend-limited", func(*targets.Base) (targets.Target, error) { return &resendLimited{}, nil })
}

// holdAnswer makes the next upload of rel stop half-way until release,
// then lose its answer; started is closed once it has begun.
func holdAnswer(rel string) (started <-chan struct{}, release func()) {
	lostAnswers.mu.Lock()
	defer lostAnswers.mu.Unlock()
	b, s := make(chan struct{}), make(chan struct{})
	lostAnswers.hold[rel], lostAnswers.started[rel] = b, s
	return s, func() { close(b) }
}

func (l *lostAnswerTarget) Watch(w *config.Watch) (any, error) { return nil, w.Destination.Decode() }

func (l *lostAnswerTarget) Prepare(_ context.Context, f *targets.File) (*targets.Plan, error) {
	return &targets.Plan{Name: f.Name()}, nil
}

func (l *lostAnswerTarget) Put(ctx context.Context, f *targets.File, _ *targets.Plan, body *targets.Body) (targets.Remote, error) {
	lostAnswers.mu.Lock()
	hold, started := lostAnswers.hold[f.Rel], lostAnswers.started[f.Rel]
	delete(lostAnswers.hold, f.Rel)
	delete(lostAnswers.started, f.Rel)
	lostAnswers.mu.Unlock()
	if hold != nil {
		if _, err := io.CopyN(io.Discard, body, body.Len()/2); err != nil {
			return targets.Remote{}, err
		}
		close(started)
		select {
		case <-hold:
		case <-ctx.Done():
			return targets.Remote{}, ctx.Err()
		}
		io.Copy(io.Discard, body)
		return targets.Remote{}, &targets.Error{Kind: targets.Retryable, Op: "test: upload", Msg: "no answer", Ambiguous: true}
	}
	if _, err := io.Copy(io.Discard, body); err != nil {
		return targets.Remote{}, err
	}
	return targets.Remote{ID: f.Rel, Name: f.Name(), Version: "1"}, nil
}

func (*resendLimited) AmbiguousResends() (int, string) { return 0, "the file may already be stored" }

// An ambiguous attempt is judged by the adapter the job ran on: an upload
// in flight on a target that replaces what it stored, whose answer is lost
// after a reload made the target a type that never sends an ambiguous
// upload again, is sent again (on the new type), not failed by the new
// type's rule.
func TestAmbiguousAttemptIsJudgedByTheJobsGeneration(t *testing.T) {
	conf := func(typ string) string {
		return "state_dir: {{state}}\nworkers: 2\nshutdown_timeout: 5s\nretry: {initial: 20ms, max: 200ms}\n" +
			"targets:\n  t:\n    type: " + typ + "\n    url: http://one\nwatches:\n  - path: {{inbox}}\n    target: t\n    settle: 100ms\n"
	}
	h := daemontest.StartYAML(t, conf("test-lost-answer"))
	started, release := holdAnswer("a.bin")
	h.WriteRandom(t, "a.bin", 1<<16)
	<-started
	if err := h.Reload(t, conf("test-resend-limited")); err != nil {
		t.Fatalf("reload: %v", err)
	}
	release()
	if j := jobEnded(t, h, "a.bin"); j.State != queue.Done {
		t.Fatalf("a.bin: %s (%s); the lost answer came from a target that replaces what it stored, which sends again", j.State, j.LastError)
	}
}

// closeGates holds the Close of test-gated-close clients, by URL.
var closeGates = struct {
	mu      sync.Mutex
	gate    map[string]chan struct{}
	entered map[string]chan struct{}
	closed  map[string]bool
}{gate: map[string]chan struct{}{}, entered: map[string]chan struct{}{}, closed: map[string]bool{}}

// gatedCloseTarget is test-gated-close: uploads succeed; Close of a
// client whose URL has a gate waits for it.
type gatedCloseTarget struct {
	lostAnswerTarget
	url string
}

func init() {
	targets.Register("test-gated-close", func(b *targets.Base) (targets.Target, error) { return &gatedCloseTarget{url: b.Config.URL}, nil })
}

// gateClose makes Close of the client for url wait until open; entered is
// closed once Close has begun.
func gateClose(url string) (entered <-chan struct{}, open func()) {
	closeGates.mu.Lock()
	defer closeGates.mu.Unlock()
	g, e := make(chan struct{}), make(chan struct{})
	closeGates.gate[url], closeGates.entered[url] = g, e
	return e, func() { close(g) }
}

func (c *gatedCloseTarget) Close() error {
	closeGates.mu.Lock()
	g, e := closeGates.gate[c.url], closeGates.entered[c.url]
	closeGates.mu.Unlock()
	if g != nil {
		close(e)
		<-g
	}
	closeGates.mu.Lock()
	defer closeGates.mu.Unlock()
	closeGates.closed[c.url] = true
	return nil
}

// Run returns only once the clients of a configuration that a reload
// replaced are closed: nothing of the daemon runs on after it.
func TestRunReturnsAfterTheOldClientsAreClosed(t *testing.T) {
	conf := func(url string) string {
		return "state_dir: {{state}}\nshutdown_timeout: 5s\ntargets:\n  t:\n    type: test-gated-close\n    url: " + url +
			"\nwatches:\n  - path: {{inbox}}\n    target: t\n    settle: 100ms\n"
	}
	h := daemontest.StartYAML(t, conf("http://one"))
	entered, open := gateClose("http://one")
	if err := h.Reload(t, conf("http://two")); err != nil {
		t.Fatalf("reload: %v", err)
	}
	<-entered // the old client is being closed, and stays so until open
	done := h.StopAsync()
	// A Run that does not wait for the old client returns within
	// milliseconds; one that waits cannot return before open. The bound
	// only limits how long the test looks for a wrong return.
	wrong := time.NewTimer(time.Second)
	defer wrong.Stop()
	select {
	case <-done:
		open()
		t.Fatal("Run returned while the old configuration's client was still being closed")
	case <-wrong.C:
	}
	open()
	<-done
	closeGates.mu.Lock()
	defer closeGates.mu.Unlock()
	if !closeGates.closed["http://one"] || !closeGates.closed["http://two"] {
		t.Fatalf("closed at Run's return: %v, want both clients", closeGates.closed)
	}
}

// unreachableTarget is test-unreachable: every upload fails as a server
// that cannot be reached, which takes the target down.
type unreachableTarget struct{ lostAnswerTarget }

func init() {
	targets.Register("test-unreachable", func(*targets.Base) (targets.Target, error) { return &unreachableTarget{}, nil })
}

func (*unreachableTarget) Put(context.Context, *targets.File, *targets.Plan, *targets.Body) (targets.Remote, error) {
	return targets.Remote{}, &targets.Error{Kind: targets.Unreachable, Op: "test: upload", Msg: "connection refused"}
}

// The recorded health of a target the configuration no longer has is
// dropped, at a reload and at a start: its "down" would otherwise hold a
// job queued for it while it was down pending forever (status counting it)
// once its watch moved to another target, here the job of a file deleted
// meanwhile, which no scan queues again.
func TestHealthOfARemovedTargetIsDropped(t *testing.T) {
	conf := func(target, typ string) string {
		return "state_dir: {{state}}\nworkers: 2\nshutdown_timeout: 5s\nretry: {initial: 20ms, max: 200ms}\n" +
			"targets:\n  " + target + ":\n    type: " + typ + "\n    url: http://127.0.0.1:1\nwatches:\n  - path: {{inbox}}\n    target: " + target + "\n    settle: 100ms\n"
	}
	down := func(h *daemontest.Harness, name string) bool {
		rec, err := h.Queue().TargetsHealth(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return rec[name].State == queue.TargetDown
	}
	for _, how := range []string{"reload", "restart"} {
		t.Run(how, func(t *testing.T) {
			mem.reset()
			h := daemontest.StartYAML(t, conf("old", "test-unreachable"))
			h.WriteRandom(t, "a.txt", 100)
			daemontest.Eventually(t, "the old target down", func() bool { return down(h, "old") })
			h.Remove(t, "a.txt")
			switch how {
			case "reload":
				if err := h.Reload(t, conf("new", "test-memory")); err != nil {
					t.Fatalf("reload: %v", err)
				}
			case "restart":
				h.RestartYAML(t, conf("new", "test-memory"))
			}
			h.WaitIdle(t) // the job of a.txt, queued for the old target, ends (a.txt is gone)
			rec, err := h.Queue().TargetsHealth(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := rec["old"]; ok {
				t.Fatalf("the removed target's health is still recorded: %+v", rec["old"])
			}
		})
	}
}
