package connections_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/dropsync/dropsync/targets"
	"github.com/dropsync/dropsync/targets/connections"
	"github.com/dropsync/dropsync/targets/targettest"
)

// loginPage is what an SSO proxy in front of the server answers, with
// status 200, once its session has ended.
const loginPage = `<!DOCTYPE html><html><head><title>Access Manager for Web: Login</title></head>` +
	`<body><form method="POST" action="/pkmslogin.form">User name <input name="username"> Password <input type="password" name="password"></form></body></html>`

// proxied is a fake behind a proxy that answers the requests page picks
// with a 200 login page; the others reach the fake.
type proxied struct {
	*bundle
	page  atomic.Pointer[func(*http.Request) bool]
	pages atomic.Int64
}

func setupProxied(t *testing.T, onConflict, threshold string) *proxied {
	t.Helper()
	p := &proxied{bundle: &bundle{fake: connections.NewFake()}}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if pick := p.page.Load(); pick != nil && (*pick)(r) {
			_, _ = io.Copy(io.Discard, r.Body)
			p.pages.Add(1)
			w.Header().Set("Content-Type", "text/html; charset=UTF-8")
			_, _ = io.WriteString(w, loginPage)
			return
		}
		p.fake.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	p.env = targettest.Build(t,
		"type: connections-activities\nurl: "+p.srv.URL+"\n"+basicAuth+"chunk_threshold: "+threshold+"\n",
		"destination: {activity_id: "+connections.FakeActivityID+"}\non_conflict: "+onConflict)
	return p
}

func (p *proxied) pageFor(pick func(*http.Request) bool) { p.page.Store(&pick) }

func isPhase2(r *http.Request) bool { return r.Header.Get("X-IBM-UPLOAD-TOKEN") != "" }

// wantUnreachable checks that err is the login page classified as being
// about the target (Unreachable), with the page's words shortened: no
// markup.
func wantUnreachable(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("delivered, though the proxy answered with its login page")
	}
	if kind, _ := targets.Classify(err); kind != targets.Unreachable {
		t.Errorf("err = %v: kind %v, want %v (the target is down, not the file bad)", err, kind, targets.Unreachable)
	}
	var te *targets.Error
	if !errors.As(err, &te) || te.Status != http.StatusOK {
		t.Errorf("err = %#v, want a targets.Error with status 200", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "Login") || strings.Contains(msg, "<") {
		t.Errorf("error %q should carry the page's words without its markup", msg)
	}
}

// A replacement's phase 2 answered 200 with a login page never reached the
// server: the field keeps its old content. Before the fix the 2xx was
// drained and the replacement recorded as delivered.
func TestReplaceAnsweredWithALoginPageIsNotADelivery(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int64
		pick func(*http.Request) bool
	}{
		{"small phase 2", 200 << 10, func(r *http.Request) bool { return r.Method == http.MethodPut && isPhase2(r) }},
		{"large phase 2", 2 << 20, func(r *http.Request) bool { return r.Method == http.MethodPut && isPhase2(r) }},
		{"phase 1", 200 << 10, func(r *http.Request) bool { return r.Method == http.MethodPut && !isPhase2(r) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := setupProxied(t, "version", "1MiB")
			f, sha1 := p.env.File(t, "plan.xlsx", tc.size)
			first := p.deliver(t, f, &targettest.MemSessions{})

			p.pageFor(tc.pick)
			f, sha2 := p.env.File(t, "plan.xlsx", tc.size+7)
			f.Previous = &first.Remote
			res, err := p.env.Deliver(context.Background(), f, &targettest.MemSessions{})
			if err == nil {
				t.Errorf("recorded as delivered (remote %+v) after the proxy answered the replacement with its login page", res.Remote)
			}
			wantUnreachable(t, err)
			if p.pages.Load() == 0 {
				t.Fatal("the proxy served no page")
			}
			if fl := p.only(t); fl.SHA256 != sha1 {
				t.Fatalf("field sha %s, want the first content %s", fl.SHA256, sha1)
			}

			p.pageFor(func(*http.Request) bool { return false }) // the session is back
			res = p.deliver(t, f, &targettest.MemSessions{})
			if fl := p.only(t); fl.SHA256 != sha2 || res.Remote.ID != first.Remote.ID {
				t.Errorf("field %+v, remote %s; want field %s replaced with %s", fl, res.Remote.ID, first.Remote.ID, sha2)
			}
		})
	}
}

// A new field's upload answered 200 with a login page (the raw-body POST,
// or the two-phase create) stored nothing: it is not a delivery (the file
// would be lost: recorded with no field), and the target is down.
func TestCreateAnsweredWithALoginPageIsNotADelivery(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int64
		pick func(*http.Request) bool
	}{
		{"raw-body POST", 100 << 10, func(r *http.Request) bool { return r.Method == http.MethodPost }},
		{"two-phase POST phase 2", 2 << 20, func(r *http.Request) bool { return r.Method == http.MethodPost && isPhase2(r) }},
		{"two-phase POST phase 1", 2 << 20, func(r *http.Request) bool { return r.Method == http.MethodPost && !isPhase2(r) }},
		{"reading the node", 100 << 10, func(r *http.Request) bool { return r.Method == http.MethodGet }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := setupProxied(t, "version", "1MiB")
			p.pageFor(tc.pick)
			f, _ := p.env.File(t, "minutes.docx", tc.size)
			res, err := p.env.Deliver(context.Background(), f, &targettest.MemSessions{})
			if err == nil {
				t.Errorf("recorded as delivered (remote %+v) after the proxy answered with its login page", res.Remote)
			}
			wantUnreachable(t, err)
			if n := len(p.fake.Fields(connections.FakeActivityID)); n != 0 {
				t.Errorf("%d fields stored", n)
			}
		})
	}
}

// The node cannot be read right after the server took a new field whose
// answer names no field (the two-phase create documents no output): the
// outcome is ambiguous, never a delivery recorded without its field.
func TestCreatedFieldNotFoundIsNotRecorded(t *testing.T) {
	p := setupProxied(t, "version", "1MiB")
	var committed atomic.Bool
	p.pageFor(func(r *http.Request) bool {
		if r.Method == http.MethodPost && isPhase2(r) {
			committed.Store(true)
			return false
		}
		return r.Method == http.MethodGet && committed.Load()
	})
	f, _ := p.env.File(t, "minutes.docx", 2<<20)
	res, err := p.env.Deliver(context.Background(), f, &targettest.MemSessions{})
	if err == nil {
		t.Fatalf("recorded as delivered (remote %+v) though its field was not found", res.Remote)
	}
	var te *targets.Error
	if kind, _ := targets.Classify(err); kind != targets.Retryable || !errors.As(err, &te) || !te.Ambiguous {
		t.Errorf("err = %v, want a Retryable ambiguous outcome (the next attempt asks Landed)", err)
	}
	p.pageFor(func(*http.Request) bool { return false })
	r, err := p.env.Target.(targets.Verifier).Landed(context.Background(), f, "")
	if err != nil || r == nil || r.ID != p.only(t).ID {
		t.Errorf("Landed = %+v, %v; want the field the server stored", r, err)
	}
}
