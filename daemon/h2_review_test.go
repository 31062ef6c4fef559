package daemon_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/targets/sbm"
)

// noFailedJobs fails the test when a job is on the failed list, naming
// its error.
func noFailedJobs(t *testing.T, h *daemontest.Harness) {
	t.Helper()
	js, err := h.Queue().Jobs(context.Background(), queue.Failed, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range js {
		t.Fatalf("%s is on the failed list and will not be sent again without `dropsync queue retry`: %s", j.Rel, j.LastError)
	}
}

// An SSO proxy (or a portal in front of the SBM server) whose session
// lapsed answers every JSON API call with its HTML login page and status
// 200. That is about the target, as a redirect to the same login page is
// (Unreachable: the target goes down and a probe tests it), not about any
// one file: once the proxy lets requests through again, the files that
// waited are delivered by themselves. None may land on the failed list.
func TestSBMLoginPageWith200DoesNotFailTheBacklog(t *testing.T) {
	fake := sbm.NewFake()
	var proxyLogin atomic.Bool
	var loginPages atomic.Int64
	proxyLogin.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if proxyLogin.Load() && strings.Contains(r.URL.Path, "jsonapi") {
			_, _ = io.Copy(io.Discard, r.Body)
			loginPages.Add(1)
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = io.WriteString(w, "<!DOCTYPE html><html><head><title>Sign in</title></head><body><form action=\"/idp/login\">Your session has expired. Please sign in.</form></body></html>")
			return
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	setup := fake.Setup(srv.URL)
	y := "state_dir: {{state}}\nworkers: 4\nshutdown_timeout: 5s\nretry: {initial: 100ms, max: 500ms}\n" +
		"targets:\n  t:\n" + indentYAML(setup.Target+"timeout: 5s\n", "    ") +
		"watches:\n  - path: {{inbox}}\n    target: t\n    settle: 50ms\n    destination: " + setup.Destination + "\n"
	h := daemontest.StartYAML(t, y)
	shas := map[string]string{}
	for i := range 3 {
		name := fmt.Sprintf("claim%d.pdf", i)
		shas[name] = h.WriteRandom(t, name, 2048)
	}
	daemontest.Eventually(t, "the login page served for every file", func() bool { return loginPages.Load() >= 3 })
	daemontest.Eventually(t, "every attempt classified", func() bool {
		c, err := h.Queue().Counts(context.Background())
		return err == nil && c[queue.Leased] == 0
	})
	noFailedJobs(t, h)
	proxyLogin.Store(false) // the SSO session is back
	for name, sha := range shas {
		h.WaitDelivered(t, name, sha)
	}
}
