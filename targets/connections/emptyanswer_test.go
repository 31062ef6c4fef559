package connections_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/dropsync/dropsync/targets"
	"github.com/dropsync/dropsync/targets/connections"
	"github.com/dropsync/dropsync/targets/targettest"
)

// TestPhase2EmptyAnswerTypedAsHTMLIsADelivery: phase 2 documents no
// output, and the server answers 200 with an empty body. Java servlet
// containers (WebSphere, which runs Connections) commonly label even an
// empty answer "Content-Type: text/html". targets.NotJSON itself says an
// empty body "says nothing about who answered", but phase2Answer asks
// IsPage, which decides on the Content-Type alone: the empty 200 is taken
// for a proxy's login page and the upload is Unreachable although the
// server stored the file. The target goes down, the probe (reading the
// node) succeeds, the file is sent again, and again: never recorded, with
// rename a new field per round.
func TestPhase2EmptyAnswerTypedAsHTMLIsADelivery(t *testing.T) {
	for _, tc := range []struct {
		name    string
		replace bool
	}{{"two-phase create", false}, {"replace (2-phase PUT)", true}} {
		t.Run(tc.name, func(t *testing.T) {
			fake := connections.NewFake()
			var on atomic.Bool
			on.Store(!tc.replace)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if on.Load() && r.Header.Get("X-IBM-UPLOAD-TOKEN") != "" {
					// What the servlet container adds to an answer without a body.
					w.Header().Set("Content-Type", "text/html; charset=UTF-8")
				}
				fake.ServeHTTP(w, r)
			}))
			t.Cleanup(srv.Close)
			env := targettest.Build(t,
				"type: connections-activities\nurl: "+srv.URL+"\n"+basicAuth+"chunk_threshold: 1MiB\n",
				"destination: {activity_id: "+connections.FakeActivityID+"}\non_conflict: version")
			b := &bundle{fake: fake, srv: srv, env: env}
			f, sha := env.File(t, "plan.xlsx", 2<<20)
			if tc.replace {
				first := b.deliver(t, f, &targettest.MemSessions{})
				f, sha = env.File(t, "plan.xlsx", 2<<20+7)
				f.Previous = &first.Remote
				on.Store(true)
			}
			res, err := env.Deliver(context.Background(), f, &targettest.MemSessions{})
			fl := b.only(t)
			if err != nil {
				kind, _ := targets.Classify(err)
				t.Fatalf("the server stored the file (field sha %s, want %s) but the delivery failed as %v: %v", fl.SHA256, sha, kind, err)
			}
			if fl.SHA256 != sha || res.Remote.ID != fl.ID {
				t.Errorf("field %+v, remote %+v; want sha %s", fl, res.Remote, sha)
			}
		})
	}
}

// TestRawPostCreatedEmptyHTMLIsADelivery: the raw-body POST answered
// 201 Created with the new field's Location and no body, labelled
// text/html by the servlet container. created() accepts 201 or a
// Location as the API's answer, but first asks IsPage, which is true on
// the Content-Type alone: the stored file is taken for a login page
// (Unreachable) and sent again once the probe passes.
func TestRawPostCreatedEmptyHTMLIsADelivery(t *testing.T) {
	fake := connections.NewFake()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("X-IBM-UPLOAD-METHOD") != "" {
			fake.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		fake.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			if k != "Content-Type" && k != "Content-Length" {
				w.Header()[k] = v
			}
		}
		w.Header().Set("Content-Type", "text/html; charset=UTF-8")
		w.WriteHeader(rec.Code) // the body dropped: 201 + Location only
	}))
	t.Cleanup(srv.Close)
	env := targettest.Build(t,
		"type: connections-activities\nurl: "+srv.URL+"\n"+basicAuth+"chunk_threshold: 1MiB\n",
		"destination: {activity_id: "+connections.FakeActivityID+"}\non_conflict: version")
	b := &bundle{fake: fake, srv: srv, env: env}
	f, sha := env.File(t, "minutes.docx", 100<<10)
	res, err := env.Deliver(context.Background(), f, &targettest.MemSessions{})
	fl := b.only(t)
	if err != nil {
		kind, _ := targets.Classify(err)
		t.Fatalf("the server stored the file (201, field sha %s, want %s) but the delivery failed as %v: %v", fl.SHA256, sha, kind, err)
	}
	if fl.SHA256 != sha || res.Remote.ID != fl.ID {
		t.Errorf("field %+v, remote %+v; want sha %s", fl, res.Remote, sha)
	}
}
