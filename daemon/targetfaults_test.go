package daemon_test

import (
	"context"
	"fmt"
	"io"
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
	"github.com/dropsync/dropsync/targets/connections"
	"github.com/dropsync/dropsync/targets/oracledocs"
	"github.com/dropsync/dropsync/targets/sbm"
	"github.com/dropsync/dropsync/targets/sensenet"
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
	proxyLogin.Store(true)
	url, loginPages := loginProxy(t, fake, "<!DOCTYPE html><html><head><title>Sign in</title></head><body><form action=\"/idp/login\">Your session has expired. Please sign in.</form></body></html>",
		func(r *http.Request) bool { return proxyLogin.Load() && strings.Contains(r.URL.Path, "jsonapi") })
	setup := fake.Setup(url)
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

// With an account-level Service ID each watch names the user it uploads
// for (on_behalf_of). A 403 for one of them (that user may not attach to
// that work item) says nothing about the target's credentials: the other
// watch's files, for a user who may, must keep going, instead of waiting
// for a probe of a target whose "credentials are rejected" (a probe that
// may well pick the refused user's file again).
func TestBlueworks403ForOneOnBehalfOfUserDoesNotHoldTheOtherWatch(t *testing.T) {
	fake := blueworks.NewFake()
	var refused atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == blueworks.UploadPath && r.Header.Get("X-On-Behalf-Of") == "bob@example.com" {
			_, _ = io.Copy(io.Discard, r.Body)
			refused.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `{"message":"User bob@example.com does not have permission to attach files to W-2002"}`)
			return
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	bobDir := t.TempDir()
	setup := fake.Setup(srv.URL)
	// Probes are slow (retry.initial 20s): a file that waits for one is
	// late by seconds, a file that does not is delivered in milliseconds.
	y := "state_dir: {{state}}\nworkers: 4\nshutdown_timeout: 5s\nretry: {initial: 20s, max: 1m}\n" +
		"targets:\n  t:\n" + indentYAML(setup.Target+"timeout: 5s\n", "    ") +
		"watches:\n" +
		"  - path: {{inbox}}\n    target: t\n    settle: 50ms\n    on_conflict: rename\n" +
		"    destination: {location: instance, ancestor_id: W-1001, parent_id: W-1001, on_behalf_of: alice@example.com}\n" +
		"  - path: " + bobDir + "\n    target: t\n    settle: 50ms\n    on_conflict: rename\n" +
		"    destination: {location: instance, ancestor_id: W-2002, parent_id: W-2002, on_behalf_of: bob@example.com}\n"
	h := daemontest.StartYAML(t, y)
	if err := os.WriteFile(filepath.Join(bobDir, "bob.pdf"), []byte("bob's claim"), 0o600); err != nil {
		t.Fatal(err)
	}
	daemontest.Eventually(t, "bob's upload refused", func() bool { return refused.Load() >= 1 })
	daemontest.Eventually(t, "bob's attempt classified", func() bool {
		c, err := h.Queue().Counts(context.Background())
		return err == nil && c[queue.Leased] == 0
	})
	sha := h.WriteRandom(t, "alice.pdf", 4096)
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := h.Queue().FileState(context.Background(), h.WatchPath(), "alice.pdf")
		if err != nil {
			t.Fatal(err)
		}
		if st != nil && st.SHA256 == sha {
			break
		}
		if time.Now().After(deadline) {
			th := targetState(h)
			t.Fatalf("alice.pdf (a user Blueworks accepts) not delivered within 5s: the target is %q because of bob's 403 (%s), next probe at %s",
				th.State, th.Reason, th.NextProbe.Format(time.RFC3339))
		}
		<-tick.C
	}
}

// A 504 Gateway Timeout is a proxy's word for "I passed your request on
// and gave up waiting for the answer": the server behind it may well have
// stored the upload. After the whole file went out, that is the same
// ambiguous outcome as an answer that never came. Blueworks cannot be
// asked and every upload adds an attachment, so ambiguous_resends bounds
// the re-sends; with ambiguous_resends: 0 the file must not be sent again
// (it fails with "the file may already be attached"). A 504 is instead
// retried as a plain 5xx: the file is attached twice.
func TestGatewayTimeoutAfterTheWholeFileIsNotResentBlindly(t *testing.T) {
	fake := blueworks.NewFake()
	var first atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == blueworks.UploadPath && first.CompareAndSwap(false, true) {
			fake.ServeHTTP(httptest.NewRecorder(), r) // the server behind the gateway attaches it...
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusGatewayTimeout) // ...and the gateway gave up waiting
			_, _ = io.WriteString(w, "<html><body><h1>504 Gateway Time-out</h1></body></html>")
			return
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	setup := fake.Setup(srv.URL)
	h := daemontest.Start(t, setup.Target+"ambiguous_resends: 0\n", "destination: "+setup.Destination+"\non_conflict: rename")
	h.WriteRandom(t, "a.pdf", 4096)
	daemontest.Eventually(t, "a.pdf delivered or failed", func() bool {
		c, err := h.Queue().Counts(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		st, _ := h.Queue().FileState(context.Background(), h.WatchPath(), "a.pdf")
		return c[queue.Failed] == 1 || st != nil
	})
	if n := len(fake.Attachments()); n != 1 {
		t.Fatalf("a.pdf is attached %d times after a 504 to its first upload, with ambiguous_resends: 0: sent again as if nothing had been stored", n)
	}
}

// A Connections server behind an SSO proxy (WebSEAL, a portal) whose
// session lapses in the middle of a burst: from then on the proxy answers
// every request with its HTML login form and status 200, and stores
// nothing. An upload answered so did not happen: the file must not be
// recorded as delivered (it would never be sent again), and once the
// session is back it must reach the server.
func TestConnectionsLoginPageWith200IsNotADelivery(t *testing.T) {
	fake := connections.NewFake()
	var expired, once atomic.Bool
	url, loginPages := loginProxy(t, fake, "<!DOCTYPE html><html><head><title>Access Manager for Web: Login</title></head><body><form method=\"POST\" action=\"/pkmslogin.form\">User name <input name=\"username\"> Password <input type=\"password\" name=\"password\"></form></body></html>",
		func(r *http.Request) bool {
			if r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/activities/") && once.CompareAndSwap(false, true) {
				expired.Store(true) // the proxy's session ends just as the upload is sent
			}
			return expired.Load()
		})
	setup := fake.Setup(url)
	h := daemontest.Start(t, setup.Target, "destination: "+setup.Destination+"\non_conflict: version")
	sha := h.WriteRandom(t, "minutes.docx", 8192)
	daemontest.Eventually(t, "the upload answered with the login page", func() bool { return loginPages.Load() >= 1 })
	daemontest.Eventually(t, "the attempt classified", func() bool {
		c, err := h.Queue().Counts(context.Background())
		return err == nil && c[queue.Leased] == 0
	})
	if st, _ := h.Queue().FileState(context.Background(), h.WatchPath(), "minutes.docx"); st != nil && len(fake.Fields(connections.FakeActivityID)) == 0 {
		t.Fatalf("minutes.docx is recorded as delivered (remote %+v) after the proxy answered its upload with a login page; the server holds no field and the file will never be sent again", st.Remote)
	}
	expired.Store(false) // the session is back
	h.WaitDelivered(t, "minutes.docx", sha)
}

// An SSO proxy (or a portal's maintenance page) in front of the server
// answers every request with an HTML page and status 200 for a while. No
// request reaches the API, so nothing is about any one file: however long
// that lasts (here: the page served a dozen times, for the file's
// attempts and then the target's probes), the file waits, and once the
// API answers again it is delivered without `dropsync queue retry`.
func TestLoginPageWith200FailsNoFileWhileItLasts(t *testing.T) {
	for _, typ := range []string{oracledocs.Type, blueworks.Type, sensenet.Type} {
		t.Run(typ, func(t *testing.T) {
			fake, err := targets.NewFake(typ)
			if err != nil {
				t.Fatal(err)
			}
			if c, ok := fake.(interface{ Close() }); ok {
				t.Cleanup(c.Close)
			}
			var proxy atomic.Bool
			proxy.Store(true)
			url, pages := loginProxy(t, fake, "<!DOCTYPE html><html><head><title>Sign in</title></head><body><form action=\"/login\">Your session has expired. Please sign in.</form></body></html>",
				func(r *http.Request) bool {
					return proxy.Load() && !strings.Contains(r.URL.Path, "oauth") && !strings.Contains(r.URL.Path, "token")
				})
			setup := fake.Setup(url)
			watch := "destination: " + setup.Destination + "\nsettle: 50ms"
			if setup.OnConflict != "" {
				watch += "\non_conflict: " + setup.OnConflict
			}
			h := daemontest.Start(t, setup.Target+"timeout: 5s\n", watch)
			sha := h.WriteRandom(t, "report.pdf", 2048)
			daemontest.Eventually(t, "a dozen login pages served", func() bool {
				noFailedJobs(t, h)
				return pages.Load() >= 12
			})
			daemontest.Eventually(t, "the attempt in flight classified", func() bool {
				c, err := h.Queue().Counts(context.Background())
				return err == nil && c[queue.Leased] == 0
			})
			noFailedJobs(t, h)
			proxy.Store(false)
			h.WaitDelivered(t, "report.pdf", sha)
		})
	}
}

// loginProxy serves fake behind an SSO proxy whose session has lapsed for
// the requests intercept picks: it answers them 200 with the HTML login
// page, storing nothing, and counts them. It returns the proxy's URL.
func loginProxy(t *testing.T, fake http.Handler, page string, intercept func(*http.Request) bool) (string, *atomic.Int64) {
	t.Helper()
	pages := new(atomic.Int64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if intercept(r) {
			_, _ = io.Copy(io.Discard, r.Body)
			pages.Add(1)
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = io.WriteString(w, page)
			return
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, pages
}
