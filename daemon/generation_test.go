package daemon_test

import (
	"context"
	"io"
	"sync"
	"testing"

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
