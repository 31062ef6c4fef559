package daemon_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/targets"
	"github.com/dropsync/dropsync/targets/blueworks"
	"github.com/dropsync/dropsync/targets/fakehttp"
	"github.com/dropsync/dropsync/targets/sensenet"
)

// faultySensenet serves a sensenet fake behind a fault injector and runs
// the daemon against it with the given retry block and target keys.
func faultySensenet(t *testing.T, retry, targetExtra string) (*daemontest.Harness, *sensenet.Fake, *fakehttp.Faults) {
	t.Helper()
	fake := sensenet.NewFake()
	faults := fakehttp.Wrap(fake)
	srv := httptest.NewServer(faults)
	t.Cleanup(func() { srv.Close(); fake.Close() })
	y := fmt.Sprintf("state_dir: {{state}}\nworkers: 4\nshutdown_timeout: 5s\nretry: %s\n"+
		"targets:\n  t:\n    type: sensenet\n    url: %s\n    %s\n"+
		"watches:\n  - path: {{inbox}}\n    target: t\n    settle: 100ms\n    destination: {path: %s}\n",
		retry, srv.URL, strings.ReplaceAll(strings.TrimSpace(targetExtra), "\n", "\n    "), sensenet.DocumentsPath)
	return daemontest.StartYAML(t, y), fake, faults
}

// targetState is the daemon's view of target t.
func targetState(h *daemontest.Harness) queue.TargetHealth {
	for _, th := range h.Daemon().TargetsHealth() {
		if th.Target == "t" {
			return th
		}
	}
	return queue.TargetHealth{}
}

// A rejected token fails no file: the target's credentials are rejected,
// the files wait, and once the token file is fixed they are delivered
// without any queue command.
func TestBadTokenWaitsAndIsDeliveredOnceTheFileIsFixed(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("expired-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h, fake, _ := faultySensenet(t, "{initial: 50ms, max: 2s}", "auth: {type: bearer, token_file: "+tokenFile+"}")
	shas := map[string]string{}
	for i := range 3 {
		name := fmt.Sprintf("doc%d.txt", i)
		shas[name] = h.WriteRandom(t, name, 1000)
	}
	daemontest.Eventually(t, "credentials rejected", func() bool {
		return targetState(h).State == queue.TargetCredentials
	})
	if th := targetState(h); !strings.Contains(th.Reason, "HTTP 401") || !strings.Contains(th.Reason, "not authenticated") {
		t.Fatalf("reason %q does not carry the server's words", th.Reason)
	}
	ctx := context.Background()
	daemontest.Eventually(t, "3 pending files", func() bool {
		c, _ := h.Queue().Counts(ctx)
		return c[queue.Pending] == 3
	})
	if rec, _ := h.Queue().TargetsHealth(ctx); rec["t"].State != queue.TargetCredentials {
		t.Fatalf("recorded %+v", rec["t"])
	}
	if err := os.WriteFile(tokenFile, []byte(sensenet.DemoToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, sha := range shas {
		h.WaitDelivered(t, name, sha)
		if remoteSHA(fake, name) != sha {
			t.Fatalf("%s differs on the server", name)
		}
	}
	if c, _ := h.Queue().Counts(ctx); c[queue.Failed] != 0 {
		t.Fatalf("counts %v: a file was failed for the target's credentials", c)
	}
	if th := targetState(h); th.State != queue.TargetUp {
		t.Fatalf("state %+v", th)
	}
}

// An outage is probed, not retried file by file: 20 files queued while
// every request is answered 503 cost a handful of requests, and all are
// delivered within retry.initial + 2s of the server's return.
func TestOutageIsProbedAndTheBacklogMovesAtOnce(t *testing.T) {
	const initial = 500 * time.Millisecond
	h, fake, faults := faultySensenet(t, "{initial: 500ms, max: 2s}", "auth: {type: bearer, token: "+sensenet.DemoToken+"}")
	faults.Set(func(*http.Request) fakehttp.Action { return fakehttp.Action{Status: http.StatusServiceUnavailable} })
	start := faults.Requests()
	shas := map[string]string{}
	for i := range 20 {
		name := fmt.Sprintf("f%02d.bin", i)
		shas[name] = h.WriteRandom(t, name, 2000)
	}
	daemontest.Eventually(t, "the target down", func() bool { return targetState(h).State == queue.TargetDown })
	time.Sleep(6 * time.Second) // the outage goes on: this is the scenario, not synchronisation
	during := faults.Requests() - start
	faults.Set(nil)
	back := time.Now()
	for name, sha := range shas {
		h.WaitDelivered(t, name, sha)
	}
	took := time.Since(back)
	t.Logf("%d requests during the outage; all 20 delivered %s after it ended", during, took.Round(time.Millisecond))
	if during > 20 {
		t.Errorf("%d requests during the outage: files are retried one by one", during)
	}
	if took > initial+2*time.Second {
		t.Errorf("delivered %s after the outage, want within retry.initial + 2s", took)
	}
	for name, sha := range shas {
		if remoteSHA(fake, name) != sha {
			t.Fatalf("%s differs on the server", name)
		}
	}
}

// Retry-After: 31536000 pauses the target for at most retry.max_pause, and
// `dropsync target resume` (a request from another process) ends it.
func TestHugeRetryAfterIsCappedAndResumeEndsIt(t *testing.T) {
	h, fake, faults := faultySensenet(t, "{initial: 50ms, max: 200ms, max_pause: 10m}", "auth: {type: bearer, token: "+sensenet.DemoToken+"}")
	var once atomic.Bool
	faults.Set(func(*http.Request) fakehttp.Action {
		if once.CompareAndSwap(false, true) {
			return fakehttp.Action{Status: http.StatusServiceUnavailable, RetryAfter: "31536000"}
		}
		return fakehttp.Action{}
	})
	start := time.Now()
	sha := h.WriteRandom(t, "later.txt", 100)
	daemontest.Eventually(t, "the pause", func() bool { return !h.PausedUntil(t, "t").IsZero() })
	if d := h.PausedUntil(t, "t").Sub(start); d > 10*time.Minute+5*time.Second || d < 9*time.Minute {
		t.Fatalf("paused for %s, want retry.max_pause (10m)", d)
	}
	if th := targetState(h); th.State != queue.TargetThrottled {
		t.Fatalf("state %+v", th)
	}
	cli, err := queue.OpenExisting(context.Background(), h.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if err := cli.RequestTarget(context.Background(), "t", queue.RequestResume); err != nil {
		t.Fatal(err)
	}
	h.WaitDelivered(t, "later.txt", sha)
	if remoteSHA(fake, "later.txt") != sha {
		t.Fatal("server content differs")
	}
	daemontest.Eventually(t, "the target up", func() bool { return targetState(h).State == queue.TargetUp })
}

// A server that stores the upload and answers after the timeout: the next
// attempt asks sensenet and finds the upload, so nothing is sent twice.
func TestLateAnswerIsFoundNotSentAgain(t *testing.T) {
	h, fake, faults := faultySensenet(t, "{initial: 50ms, max: 200ms}", "auth: {type: bearer, token: "+sensenet.DemoToken+"}\ntimeout: 500ms")
	var uploads atomic.Int32
	faults.Set(func(r *http.Request) fakehttp.Action {
		if r.Method == http.MethodPost && strings.Contains(r.URL.Path, "Upload") {
			if uploads.Add(1) == 1 {
				return fakehttp.Action{AfterProcessing: true, Delay: 3 * time.Second}
			}
		}
		return fakehttp.Action{}
	})
	sha := h.WriteRandom(t, "once.txt", 5000)
	h.WaitDelivered(t, "once.txt", sha)
	c, ok := fake.Content(sensenet.DocumentsPath + "/once.txt")
	if !ok || c.Current().SHA256 != sha {
		t.Fatal("server content differs")
	}
	if n := len(c.Versions); n != 1 || uploads.Load() != 1 {
		t.Fatalf("%d versions after %d uploads: the file was sent again", n, uploads.Load())
	}
}

// Blueworks cannot be asked: an upload stored but answered too late is
// sent again at most once, then the file fails with words that say it may
// already be attached.
func TestBlueworksLateAnswerIsResentAtMostOnce(t *testing.T) {
	fake := blueworks.NewFake()
	faults := fakehttp.Wrap(fake)
	srv := httptest.NewServer(faults)
	t.Cleanup(srv.Close)
	faults.Set(func(r *http.Request) fakehttp.Action {
		if strings.HasSuffix(r.URL.Path, blueworks.UploadPath) {
			return fakehttp.Action{AfterProcessing: true, Delay: 3 * time.Second}
		}
		return fakehttp.Action{}
	})
	setup := fake.Setup(srv.URL)
	h := daemontest.Start(t, setup.Target+"timeout: 500ms\n", "destination: "+setup.Destination+"\non_conflict: rename")
	h.WriteRandom(t, "claim.pdf", 3000)
	job := h.WaitFailed(t, "claim.pdf")
	if !strings.Contains(job.LastError, "may already be attached") {
		t.Fatalf("last error %q", job.LastError)
	}
	n := 0
	for _, a := range fake.Attachments() {
		if a.Name == "claim.pdf" {
			n++
		}
	}
	if n > 2 {
		t.Fatalf("%d attachments for one file", n)
	}
}

// Blueworks' "try FAILED three times" counts FAILED answers only: three
// 502s before one FAILED do not fail the file.
func TestBlueworksFailedCapCountsOnlyFailedAnswers(t *testing.T) {
	fake := blueworks.NewFake()
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	fake.FailNext(3, http.StatusBadGateway)
	fake.StatusNext(1, "FAILED")
	setup := fake.Setup(srv.URL)
	h := daemontest.Start(t, setup.Target, "destination: "+setup.Destination+"\non_conflict: rename")
	sha := h.WriteRandom(t, "a.pdf", 100)
	h.WaitDelivered(t, "a.pdf", sha)
	if c, _ := h.Queue().Counts(context.Background()); c[queue.Failed] != 0 {
		t.Fatalf("counts %v", c)
	}
}

// A stray server error on one file is retried within retry.initial (the
// waits of later failures of the same file grow: see
// TestPersistentFileFailureBacksOff).
func TestStrayServerErrorIsRetriedSoon(t *testing.T) {
	mem.reset()
	var n atomic.Int32
	mem.fail = func(string) error {
		if n.Add(1) <= 1 {
			return &targets.Error{Kind: targets.Retryable, Op: "test: upload", Status: 502, Msg: "bad gateway"}
		}
		return nil
	}
	h := daemontest.StartYAML(t, "state_dir: {{state}}\nretry: {initial: 200ms, max: 1m}\ntargets:\n  t:\n    type: test-memory\n    url: http://127.0.0.1:1\n"+
		"watches:\n  - path: {{inbox}}\n    target: t\n    settle: 50ms\n")
	h.WriteRandom(t, "x.bin", 100)
	var job *queue.Job
	daemontest.Eventually(t, "the failure", func() bool {
		js, err := h.Queue().Jobs(context.Background(), queue.Pending, "x.bin", 1)
		if err != nil || len(js) == 0 || js[0].Attempts < 1 {
			return false
		}
		job = js[0]
		return true
	})
	if wait := job.NotBefore.Sub(job.UpdatedAt); wait > 260*time.Millisecond {
		t.Fatalf("retry after %s on attempt %d, want about retry.initial (200ms)", wait, job.Attempts)
	}
	h.WaitIdle(t)
}

// A server that redirects every request (a login page, a moved server) is
// a configuration problem: the target is down with the Location in its
// reason, nothing fails and nothing is retried per file.
func TestUnexpectedRedirectPutsTheTargetDown(t *testing.T) {
	h, _, faults := faultySensenet(t, "{initial: 100ms, max: 1s}", "auth: {type: bearer, token: "+sensenet.DemoToken+"}")
	faults.Set(func(*http.Request) fakehttp.Action {
		return fakehttp.Action{Status: http.StatusFound, Location: "https://sso.example.com/login?next=x"}
	})
	h.WriteRandom(t, "a.txt", 100)
	daemontest.Eventually(t, "the target down", func() bool { return targetState(h).State == queue.TargetDown })
	if th := targetState(h); !strings.Contains(th.Reason, "https://sso.example.com/login") || strings.Contains(th.Reason, "next=x") {
		t.Fatalf("reason %q", th.Reason)
	}
	if c, _ := h.Queue().Counts(context.Background()); c[queue.Failed] != 0 || c[queue.Pending]+c[queue.Leased] != 1 {
		t.Fatalf("counts %v", c)
	}
}

// A restart tests a target whose credentials were rejected at once, not
// after its probe's backoff: the recorded state is read and probed.
func TestRestartReTestsATargetAtOnce(t *testing.T) {
	h, fake, _ := faultySensenet(t, "{initial: 30s, max: 10m}", "auth: {type: bearer, token: "+sensenet.DemoToken+"}")
	fake.SetCredentials("another-token", "")
	sha := h.WriteRandom(t, "a.txt", 100)
	daemontest.Eventually(t, "credentials rejected", func() bool { return targetState(h).State == queue.TargetCredentials })
	h.Stop()
	fake.SetCredentials(sensenet.DemoToken, "") // fixed on the server's side
	start := time.Now()
	h.Restart(t)
	if th := targetState(h); th.State != queue.TargetCredentials && th.State != queue.TargetUp {
		t.Fatalf("after the restart: %+v", th)
	}
	h.WaitDelivered(t, "a.txt", sha)
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("delivered %s after the restart, want at once (the probe backoff is 30s)", d)
	}
}
