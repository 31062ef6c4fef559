package connections_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dropsync/dropsync/targets"
	"github.com/dropsync/dropsync/targets/connections"
	"github.com/dropsync/dropsync/targets/targettest"
)

const basicAuth = "auth: {type: basic, username: " + connections.FakeUser + ", password: " + connections.FakePassword + "}\n"

// bundle is one fake server and a target pointed at it.
type bundle struct {
	fake *connections.Fake
	srv  *httptest.Server
	env  *targettest.Env
}

// setup starts a fake and builds a target with a 1 MiB chunk_threshold and
// a watch with the given on_conflict.
func setup(t testing.TB, onConflict string) *bundle {
	return setupThreshold(t, onConflict, "1MiB")
}

func setupThreshold(t testing.TB, onConflict, threshold string) *bundle {
	t.Helper()
	fake := connections.NewFake()
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	env := targettest.Build(t,
		"type: connections-activities\nurl: "+srv.URL+"\n"+basicAuth+"chunk_threshold: "+threshold+"\n",
		"destination: {activity_id: "+connections.FakeActivityID+"}\non_conflict: "+onConflict)
	return &bundle{fake: fake, srv: srv, env: env}
}

func (b *bundle) deliver(t testing.TB, f *targets.File, s *targettest.MemSessions) *targets.Result {
	t.Helper()
	res, err := b.env.Deliver(context.Background(), f, s)
	if err != nil {
		t.Fatalf("deliver %s: %v", f.Rel, err)
	}
	return res
}

// only returns the activity's single field, failing if there are others.
func (b *bundle) only(t *testing.T) connections.Field {
	t.Helper()
	fields := b.fake.Fields(connections.FakeActivityID)
	if len(fields) != 1 {
		t.Fatalf("activity holds %d fields, want 1: %+v", len(fields), fields)
	}
	return fields[0]
}

func TestSmallFileCreatesField(t *testing.T) {
	b := setup(t, "version")
	f, sha := b.env.File(t, "sub/report.pdf", 100<<10)
	res := b.deliver(t, f, nil)

	fl := b.only(t)
	if fl.Name != "report.pdf" || fl.SHA256 != sha || fl.Size != 100<<10 || fl.ContentType != "application/pdf" {
		t.Errorf("field = %+v, want report.pdf, application/pdf, 102400 bytes, sha %s", fl, sha)
	}
	if res.Remote.ID != fl.ID || res.Remote.Name != "report.pdf" || res.Remote.Extra["activity"] != connections.FakeActivityID {
		t.Errorf("remote = %+v, want id %s", res.Remote, fl.ID)
	}
	if res.SHA256 != sha || res.Chunked {
		t.Errorf("result sha %s chunked %v, want %s in one request", res.SHA256, res.Chunked, sha)
	}
	if st := b.fake.Stats(); st.Uploads != 1 || st.Phase1 != 0 || st.Phase2 != 0 {
		t.Errorf("stats = %+v, want one raw upload", st)
	}
}

func TestLargeFileTwoPhases(t *testing.T) {
	b := setup(t, "version")
	f, sha := b.env.File(t, "video.mp4", 3<<20)
	s := &targettest.MemSessions{}
	res := b.deliver(t, f, s)

	fl := b.only(t)
	if fl.Name != "video.mp4" || fl.SHA256 != sha || fl.Size != 3<<20 || fl.ContentType != "video/mp4" {
		t.Errorf("field = %+v, want video.mp4 with sha %s", fl, sha)
	}
	if !res.Chunked || res.Remote.ID != fl.ID || res.SHA256 != sha {
		t.Errorf("result = %+v, want chunked, id %s", res, fl.ID)
	}
	if st := b.fake.Stats(); st.Uploads != 0 || st.Phase1 != 1 || st.Phase2 != 1 || st.Phase2Stored != 1 {
		t.Errorf("stats = %+v, want one phase 1 and one phase 2", st)
	}
	if s.Saves != 1 {
		t.Errorf("session saved %d times, want once (the token, before phase 2)", s.Saves)
	}
}

func TestReplaceKeepsTheField(t *testing.T) {
	for _, tc := range []struct {
		policy, kind string
		size         int64
	}{{"version", "small", 200 << 10}, {"overwrite", "small", 200 << 10}, {"version", "large", 2 << 20}, {"overwrite", "large", 2 << 20}} {
		t.Run(tc.policy+"/"+tc.kind, func(t *testing.T) {
			b := setup(t, tc.policy)
			f, _ := b.env.File(t, "plan.xlsx", tc.size)
			first := b.deliver(t, f, &targettest.MemSessions{})
			before := b.fake.Stats()

			f, sha := b.env.File(t, "plan.xlsx", tc.size+7) // changed content
			f.Previous = &first.Remote
			res := b.deliver(t, f, &targettest.MemSessions{})

			fl := b.only(t)
			if fl.ID != first.Remote.ID || res.Remote.ID != fl.ID || fl.SHA256 != sha || fl.Version != 2 {
				t.Errorf("field = %+v, remote %s; want the same field %s, version 2, sha %s", fl, res.Remote.ID, first.Remote.ID, sha)
			}
			st := b.fake.Stats()
			if st.Uploads != before.Uploads || st.Phase1 != before.Phase1+1 || st.Phase2 != before.Phase2+1 {
				t.Errorf("stats %+v after %+v: a replacement must be one two-phase PUT, whatever the size", st, before)
			}
		})
	}
}

func TestVersionFindsTheFieldByName(t *testing.T) {
	b := setup(t, "version")
	f, _ := b.env.File(t, "notes.txt", 1000)
	first := b.deliver(t, f, nil)

	f, sha := b.env.File(t, "notes.txt", 2000)
	f.Previous = nil // the state table lost it, or another client uploaded it
	res := b.deliver(t, f, nil)
	fl := b.only(t)
	if res.Remote.ID != first.Remote.ID || fl.SHA256 != sha || fl.Version != 2 {
		t.Errorf("field %+v remote %s, want %s replaced with sha %s", fl, res.Remote.ID, first.Remote.ID, sha)
	}
}

func TestRecordedFieldGoneCreatesANewOne(t *testing.T) {
	b := setup(t, "version")
	f, sha := b.env.File(t, "gone.txt", 1000)
	f.Previous = &targets.Remote{ID: "no-such-field", Name: "gone.txt"}
	res := b.deliver(t, f, nil)
	if fl := b.only(t); fl.ID != res.Remote.ID || fl.SHA256 != sha || fl.Version != 1 {
		t.Errorf("field %+v remote %+v, want a new field", fl, res.Remote)
	}
}

func TestRenameCreatesNumberedFields(t *testing.T) {
	b := setup(t, "rename")
	var prev *targets.Remote
	var want []string
	for i, name := range []string{"scan.pdf", "scan(1).pdf", "scan(2).pdf"} {
		size := int64(1000)
		if i == 2 {
			size = 2 << 20 // two-phase create under the new name
		}
		f, sha := b.env.File(t, "scan.pdf", size)
		f.Previous = prev
		res := b.deliver(t, f, &targettest.MemSessions{})
		fl, ok := b.fake.Field(res.Remote.ID)
		if !ok || fl.Name != name || res.Remote.Name != name || fl.SHA256 != sha {
			t.Fatalf("delivery %d: remote %+v field %+v, want a new field %s", i, res.Remote, fl, name)
		}
		prev = &res.Remote
		want = append(want, name)
	}
	var got []string
	for _, fl := range b.fake.Fields(connections.FakeActivityID) {
		got = append(got, fl.Name)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("fields %v, want %v", got, want)
	}
}

func TestSkipLeavesTheFieldAlone(t *testing.T) {
	b := setup(t, "skip")
	f, sha := b.env.File(t, "keep.txt", 1000)
	first := b.deliver(t, f, nil)
	before := b.fake.Stats()

	for _, prev := range []*targets.Remote{&first.Remote, nil} { // recorded, then found by name
		f, _ = b.env.File(t, "keep.txt", 3000)
		f.Previous = prev
		res := b.deliver(t, f, nil)
		if !res.Skipped || res.Remote.ID != first.Remote.ID {
			t.Errorf("previous %v: result %+v, want skipped with remote %s", prev, res, first.Remote.ID)
		}
	}
	if fl := b.only(t); fl.SHA256 != sha || fl.Version != 1 {
		t.Errorf("field changed: %+v", fl)
	}
	if st := b.fake.Stats(); st.Uploads != before.Uploads || st.Phase1 != before.Phase1 {
		t.Errorf("stats %+v after %+v: skip must send nothing", st, before)
	}
}

func TestEmptyFile(t *testing.T) {
	b := setup(t, "version")
	f, sha := b.env.File(t, "empty.txt", 0)
	first := b.deliver(t, f, nil)
	f.Previous = &first.Remote
	res := b.deliver(t, f, nil) // replacement: two phases with size 0
	fl := b.only(t)
	if fl.Size != 0 || fl.SHA256 != sha || fl.Version != 2 || res.Remote.ID != fl.ID {
		t.Errorf("field %+v, want an empty field replaced once", fl)
	}
}

func TestNameEncoding(t *testing.T) {
	b := setup(t, "version")
	const name = "Bericht über März 100% fertig.docx"
	f, sha := b.env.File(t, name, 5000)
	b.deliver(t, f, nil)
	f, sha = b.env.File(t, name, 2<<20)
	b.deliver(t, f, &targettest.MemSessions{}) // two-phase replace, found by name
	if fl := b.only(t); fl.Name != name || fl.SHA256 != sha || fl.Version != 2 {
		t.Errorf("field %+v, want %q replaced", fl, name)
	}
}

func TestBearerAuth(t *testing.T) {
	fake := connections.NewFake()
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	env := targettest.Build(t,
		"type: connections-activities\nurl: "+srv.URL+"\nauth: {type: bearer, token: "+connections.FakeBearer+"}\n",
		"destination: {activity_id: "+connections.FakeActivityID+"}")
	f, sha := env.File(t, "a.txt", 10)
	if _, err := env.Deliver(context.Background(), f, nil); err != nil {
		t.Fatal(err)
	}
	if fl := fake.Fields(connections.FakeActivityID); len(fl) != 1 || fl[0].SHA256 != sha {
		t.Errorf("fields %+v", fl)
	}
}

// TestResumeAfterFailedPhase2 is the restart between phase 1 and the end of
// phase 2: the recorded token is used again, and there is one field.
func TestResumeAfterFailedPhase2(t *testing.T) {
	b := setup(t, "version")
	f, sha := b.env.File(t, "big.bin", 4<<20)
	b.fake.Inject(connections.Fault{Op: connections.OpPhase2, ResetAfter: 1 << 20})
	s := &targettest.MemSessions{}

	_, err := b.env.Deliver(context.Background(), f, s)
	if k, _ := targets.Classify(err); err == nil || k != targets.Retryable {
		t.Fatalf("first delivery: %v (kind %v), want a retryable failure", err, k)
	}
	sess, _ := s.Load(context.Background())
	if sess == nil || sess.Token == "" {
		t.Fatal("no upload session recorded after phase 1")
	}
	if n := len(b.fake.Fields(connections.FakeActivityID)); n != 0 {
		t.Fatalf("%d fields after the failed phase 2", n)
	}

	res := b.deliver(t, f, s)
	if !res.Resumed || res.SHA256 != sha {
		t.Errorf("result %+v, want resumed with sha %s", res, sha)
	}
	if fl := b.only(t); fl.SHA256 != sha || fl.ID != res.Remote.ID {
		t.Errorf("field %+v, want sha %s", fl, sha)
	}
	if st := b.fake.Stats(); st.Phase1 != 1 || st.Phase2 != 2 {
		t.Errorf("stats %+v, want phase 1 once and phase 2 twice (same token)", st)
	}
}

func TestRejectedTokenStartsOver(t *testing.T) {
	b := setup(t, "version")
	f, sha := b.env.File(t, "big.bin", 2<<20)
	b.fake.Inject(connections.Fault{Op: connections.OpPhase2, Status: http.StatusBadGateway})
	s := &targettest.MemSessions{}
	if _, err := b.env.Deliver(context.Background(), f, s); err == nil {
		t.Fatal("first delivery succeeded despite the fault")
	}
	if n := b.fake.ExpireTokens(); n != 1 {
		t.Fatalf("expired %d tokens, want 1", n)
	}
	res := b.deliver(t, f, s)
	if fl := b.only(t); fl.SHA256 != sha || res.Remote.ID != fl.ID {
		t.Errorf("field %+v, want sha %s", fl, sha)
	}
	if st := b.fake.Stats(); st.Phase1 != 2 || st.Phase2 != 3 || st.Phase2Stored != 1 {
		t.Errorf("stats %+v, want a second phase 1 after the rejected token", st)
	}
}

// TestCommitLostBeforeRecordIsNoDuplicate: the server stored phase 2 but
// the daemon died before recording the delivery. The retry sends phase 2
// with the used token, is refused, starts over, and replaces the field it
// finds by name instead of creating a second one.
func TestCommitLostBeforeRecordIsNoDuplicate(t *testing.T) {
	b := setup(t, "version")
	f, sha := b.env.File(t, "big.bin", 2<<20)
	s := &targettest.MemSessions{}
	first := b.deliver(t, f, s)
	if sess, _ := s.Load(context.Background()); sess == nil {
		t.Fatal("the session was not left behind; cannot simulate the lost commit")
	}
	res := b.deliver(t, f, s) // f.Previous is still nil: nothing was recorded
	fl := b.only(t)
	if res.Remote.ID != first.Remote.ID || fl.SHA256 != sha || fl.Version != 2 {
		t.Errorf("field %+v remote %s, want %s replaced", fl, res.Remote.ID, first.Remote.ID)
	}
}

func TestPhase2Hook(t *testing.T) {
	b := setup(t, "version")
	f, sha := b.env.File(t, "held.bin", 2<<20)
	started := make(chan connections.Phase2, 1)
	release := make(chan struct{})
	b.fake.SetPhase2Hook(func(_ context.Context, p connections.Phase2) {
		started <- p
		<-release
	})
	done := make(chan error, 1)
	go func() {
		_, err := b.env.Deliver(context.Background(), f, &targettest.MemSessions{})
		done <- err
	}()
	select {
	case p := <-started:
		if p.Name != "held.bin" || p.Size != 2<<20 || p.Replace || p.Token == "" {
			t.Errorf("phase 2 = %+v", p)
		}
		if st := b.fake.Stats(); st.Phase1 != 1 || st.Phase2Stored != 0 {
			t.Errorf("stats while held: %+v", st)
		}
	case err := <-done:
		t.Fatalf("delivery ended before phase 2 was held: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("phase 2 never started")
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if fl := b.only(t); fl.SHA256 != sha {
		t.Errorf("field %+v", fl)
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		file    string
		size    int64
		arrange func(*bundle)
		kind    targets.Kind
		status  int
		words   []string
	}{
		{"413 small", "huge.iso", 1000, func(b *bundle) { b.fake.RejectName("huge.iso", 413) },
			targets.Permanent, 413, []string{"file exceeds the server's limit", "exceeds the maximum size"}},
		{"413 two-phase", "huge.iso", 2 << 20, func(b *bundle) { b.fake.SetMaxSize(1 << 20) },
			targets.Permanent, 413, []string{"file exceeds the server's limit"}},
		{"415 two-phase", "tool.exe", 2 << 20, func(b *bundle) { b.fake.RejectName("tool.exe", 415) },
			targets.Permanent, 415, []string{"file type not supported", "not allowed"}},
		{"415 small", "tool.exe", 10, func(b *bundle) { b.fake.RejectName("tool.exe", 415) },
			targets.Permanent, 415, []string{"file type not supported"}},
		{"400", "a.txt", 10, func(b *bundle) { b.fake.Inject(connections.Fault{Op: connections.OpUpload, Status: 400}) },
			targets.Permanent, 400, []string{"bad request", "fault injected"}},
		{"403", "a.txt", 10, func(b *bundle) { b.fake.Inject(connections.Fault{Op: connections.OpUpload, Status: 403}) },
			targets.Permanent, 403, []string{"virus/not permitted"}},
		{"404", "a.txt", 10, func(b *bundle) { b.fake.Inject(connections.Fault{Op: connections.OpRead, Status: 404}) },
			targets.Permanent, 404, []string{"activity or file field not found"}},
		{"500", "a.txt", 10, func(b *bundle) { b.fake.Inject(connections.Fault{Op: connections.OpUpload, Status: 500}) },
			targets.Retryable, 500, nil},
		{"502 in phase 1", "a.bin", 2 << 20, func(b *bundle) { b.fake.Inject(connections.Fault{Op: connections.OpPhase1, Status: 502}) },
			targets.Retryable, 502, nil},
		{"503 Retry-After", "a.txt", 10, func(b *bundle) {
			b.fake.Inject(connections.Fault{Op: connections.OpUpload, Status: 503, RetryAfter: "7"})
		}, targets.Throttled, 503, nil},
		{"429", "a.txt", 10, func(b *bundle) { b.fake.Inject(connections.Fault{Op: connections.OpRead, Status: 429}) },
			targets.Throttled, 429, nil},
		{"302 to a login page", "a.txt", 10, func(b *bundle) { b.fake.Inject(connections.Fault{Op: connections.OpRead, Status: 302}) },
			targets.Auth, 302, []string{"redirected"}},
		{"reset", "a.txt", 10, func(b *bundle) { b.fake.Inject(connections.Fault{Op: connections.OpUpload}) },
			targets.Retryable, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := setup(t, "version")
			tc.arrange(b)
			f, _ := b.env.File(t, tc.file, tc.size)
			_, err := b.env.Deliver(context.Background(), f, &targettest.MemSessions{})
			kind, _ := targets.Classify(err)
			if err == nil || kind != tc.kind {
				t.Fatalf("err = %v (kind %v), want kind %v", err, kind, tc.kind)
			}
			var te *targets.Error
			if !errors.As(err, &te) || te.Status != tc.status {
				t.Fatalf("err = %#v, want a targets.Error with status %d", err, tc.status)
			}
			for _, w := range tc.words {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if tc.status == 503 && te.RetryAfter != 7*time.Second {
				t.Errorf("RetryAfter = %v, want 7s", te.RetryAfter)
			}
			if strings.Contains(err.Error(), connections.FakePassword) {
				t.Errorf("error leaks the password: %v", err)
			}
			if n := len(b.fake.Fields(connections.FakeActivityID)); n != 0 {
				t.Errorf("%d fields stored despite the failure", n)
			}
		})
	}
}

func TestRejectedInPhase1SendsNothing(t *testing.T) {
	b := setup(t, "version")
	b.fake.RejectName("tool.exe", 415)
	f, _ := b.env.File(t, "tool.exe", 2<<20)
	if _, err := b.env.Deliver(context.Background(), f, &targettest.MemSessions{}); err == nil {
		t.Fatal("delivered a refused file")
	}
	if st := b.fake.Stats(); st.Phase1 != 1 || st.Phase2 != 0 {
		t.Errorf("stats %+v: the refusal must come in phase 1, before the file is sent", st)
	}
}

func TestBadCredentials(t *testing.T) {
	fake := connections.NewFake()
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	env := targettest.Build(t,
		"type: connections-activities\nurl: "+srv.URL+"\nauth: {type: basic, username: dropsync, password: wrong-secret}\n",
		"destination: {activity_id: "+connections.FakeActivityID+"}")
	f, _ := env.File(t, "a.txt", 10)
	_, err := env.Deliver(context.Background(), f, nil)
	if k, _ := targets.Classify(err); k != targets.Auth {
		t.Fatalf("err = %v (kind %v), want an auth failure", err, k)
	}
	if strings.Contains(err.Error(), "wrong-secret") {
		t.Errorf("error leaks the password: %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	const target = "type: connections-activities\nurl: http://127.0.0.1:1\n" + basicAuth
	for _, tc := range []struct {
		name, target, watch, want string
	}{
		{"no activity", target, "destination: {}", "destination.activity_id: required"},
		{"no destination", target, "on_conflict: version", "destination.activity_id: required"},
		{"unknown destination key", target, "destination: {activity_id: x, folder: y}", `unknown key "folder"`},
		{"deletes", target, "destination: {activity_id: x}\ndeletes: propagate", "deletes: connections-activities does not delete"},
		{"unknown target key", target + "two_phase: true\n", "destination: {activity_id: x}", `unknown key "two_phase"`},
		{"auth type", "type: connections-activities\nurl: http://127.0.0.1:1\nauth: {type: apikey, key: k}\n", "destination: {activity_id: x}", "auth.type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := targettest.TryBuild(t, tc.target, tc.watch)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	if _, err := targettest.TryBuild(t, target, "destination: {activity_id: x}\non_conflict: rename"); err != nil {
		t.Errorf("valid configuration refused: %v", err)
	}
}

func TestFakeSetupConfigures(t *testing.T) {
	fk, err := targets.NewFake(connections.Type)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(fk)
	t.Cleanup(srv.Close)
	s := fk.Setup(srv.URL)
	env := targettest.Build(t, s.Target, "destination: "+s.Destination)
	f, sha := env.File(t, "hello.txt", 42)
	if _, err := env.Deliver(context.Background(), f, nil); err != nil {
		t.Fatal(err)
	}
	fields := fk.(*connections.Fake).Fields(connections.FakeActivityID)
	if len(fields) != 1 || fields[0].SHA256 != sha {
		t.Errorf("fields %+v", fields)
	}
	if len(s.Notes) == 0 || !strings.Contains(strings.Join(s.Notes, "\n"), connections.FakePassword) {
		t.Errorf("notes %q do not give the credentials", s.Notes)
	}
}
