package blueworks

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/targets"
	"github.com/dropsync/dropsync/targets/targettest"
)

// env is a target built from the fake's own Setup, pointed at the fake over
// loopback.
type env struct {
	*targettest.Env
	fake *Fake
	srv  *httptest.Server
}

const instanceDest = "{location: instance, ancestor_id: W-1, parent_id: W-1}"

func newServer(t testing.TB) (*Fake, *httptest.Server) {
	t.Helper()
	fake := NewFake()
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return fake, srv
}

// setup builds a target for a fresh fake with the given watch keys.
func setup(t *testing.T, watchYAML string) *env {
	t.Helper()
	fake, srv := newServer(t)
	e := targettest.Build(t, fake.Setup(srv.URL).Target, watchYAML)
	return &env{Env: e, fake: fake, srv: srv}
}

func targetError(t *testing.T, err error) *targets.Error {
	t.Helper()
	var te *targets.Error
	if !errors.As(err, &te) {
		t.Fatalf("error %v (%T) is not a *targets.Error", err, err)
	}
	return te
}

func onlyAttachment(t *testing.T, f *Fake) Attachment {
	t.Helper()
	as := f.Attachments()
	if len(as) != 1 {
		t.Fatalf("fake holds %d attachments, want 1: %+v", len(as), as)
	}
	return as[0]
}

func TestUploadRecordsAttachment(t *testing.T) {
	e := setup(t, "destination: {location: instance, ancestor_id: W-7, parent_id: W-7, on_behalf_of: alice}\non_conflict: rename")
	f, sum := e.File(t, "reports/q3 \"final\".pdf", 300<<10)

	res, err := e.Deliver(t.Context(), f, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := onlyAttachment(t, e.fake)
	if res.Remote.ID == "" || res.Remote.ID != a.ID {
		t.Errorf("recorded id %q, fake's attachment id %q", res.Remote.ID, a.ID)
	}
	if res.Remote.Extra["fileItemId"] != a.FileItemID || a.FileItemID == "" {
		t.Errorf("recorded fileItemId %q, fake's %q", res.Remote.Extra["fileItemId"], a.FileItemID)
	}
	if res.Remote.Extra["type"] != "4" {
		t.Errorf("recorded type %q, want 4 (PDF)", res.Remote.Extra["type"])
	}
	if res.SHA256 != sum || a.SHA256 != sum || a.Size != f.Size {
		t.Errorf("sha sent %s, received %s (%d bytes), file %s (%d bytes)", res.SHA256, a.SHA256, a.Size, sum, f.Size)
	}
	if a.Name != `q3 "final".pdf` || res.Remote.Name != a.Name {
		t.Errorf("name received %q, recorded %q", a.Name, res.Remote.Name)
	}
	if a.ContentType != "application/pdf" {
		t.Errorf("content type %q, want application/pdf", a.ContentType)
	}
	if a.Location != "instance" || a.AncestorID != "W-7" || a.ParentID != "W-7" || a.OnBehalfOf != "alice" {
		t.Errorf("attached to %+v", a)
	}
	if a.ContentLength <= f.Size {
		t.Errorf("Content-Length %d: want the exact form length, above the file's %d bytes", a.ContentLength, f.Size)
	}
}

func TestContentTypeGuessedFromExtension(t *testing.T) {
	e := setup(t, "destination: {location: post}\non_conflict: rename")
	for name, want := range map[string]string{
		"notes.txt":   "text/plain; charset=utf-8",
		"scan.png":    "image/png",
		"blob.qqqzzz": "application/octet-stream",
	} {
		f, _ := e.File(t, name, 10)
		res, err := e.Deliver(t.Context(), f, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range e.fake.Attachments() {
			if a.ID == res.Remote.ID && a.ContentType != want {
				t.Errorf("%s sent as %q, want %q", name, a.ContentType, want)
			}
		}
	}
	if n := len(e.fake.Attachments()); n != 3 {
		t.Errorf("%d attachments, want 3", n)
	}
}

func TestWatchValidation(t *testing.T) {
	_, srv := newServer(t)
	target := NewFake().Setup(srv.URL).Target
	ok := "\non_conflict: rename"
	for _, c := range []struct{ watch, want string }{
		{"destination: " + instanceDest, "on_conflict: blueworks cannot add a version to an attachment (version is also the default"},
		{"destination: " + instanceDest + "\non_conflict: version", "use rename (each change adds a new attachment"},
		{"destination: " + instanceDest + "\non_conflict: overwrite", "on_conflict: blueworks cannot replace an attachment"},
		{"destination: " + instanceDest + ok + "\ndeletes: propagate", "deletes: blueworks FileUpload has no delete"},
		{"destination: {ancestor_id: W-1}" + ok, "destination.location: required, one of activity, app, decision, instance, policy, post"},
		{"destination: {location: process}" + ok, `destination.location: "process" is not one of`},
		{"destination: {location: instance, parent_id: W-1}" + ok, "destination.ancestor_id: instance needs ancestor_id = the work ID"},
		{"destination: {location: instance, ancestor_id: W-1}" + ok, "destination.parent_id: instance needs parent_id = the work ID"},
		{"destination: {location: activity, ancestor_id: B-1}" + ok, "destination.parent_id: activity needs parent_id = the process ID"},
		{"destination: {location: activity, parent_id: P-1}" + ok, "destination.ancestor_id: activity needs ancestor_id = the process blueprint ID"},
		{"destination: {location: app, parent_id: A-1}" + ok, "app needs ancestor_id = the process application ID"},
		{"destination: {location: decision, ancestor_id: D-1}" + ok, "decision needs parent_id = the decision ID"},
		{"destination: {location: policy}" + ok, "policy needs parent_id = the policy ID"},
		{"destination: {location: policy, ancestor_id: X, parent_id: P}" + ok, "destination.ancestor_id: policy takes no ancestor_id (it takes only parent_id = the policy ID)"},
		{"destination: {location: post, parent_id: X}" + ok, "destination.parent_id: post takes no parent_id (it takes no ids)"},
		{"destination: {location: post, folder: x}" + ok, `unknown key "folder"`},
		{"destination: {location: post, on_behalf_of: ' bob'}" + ok, "destination.on_behalf_of"},
	} {
		_, err := targettest.TryBuild(t, target, c.watch)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("watch %q: error %v, want it to contain %q", c.watch, err, c.want)
		}
	}
	for _, dest := range []string{
		"{location: activity, ancestor_id: B-1, parent_id: P-1}",
		"{location: app, ancestor_id: PA-1, parent_id: A-1}",
		"{location: decision, ancestor_id: DD-1, parent_id: D-1}",
		instanceDest,
		"{location: policy, parent_id: PO-1}",
		"{location: post, on_behalf_of: bob@example.com}",
	} {
		for _, policy := range []string{"rename", "skip"} {
			if _, err := targettest.TryBuild(t, target, "destination: "+dest+"\non_conflict: "+policy); err != nil {
				t.Errorf("destination %s with %s: %v", dest, policy, err)
			}
		}
	}
}

func TestTargetValidation(t *testing.T) {
	watch := "destination: " + instanceDest + "\non_conflict: rename"
	for _, c := range []struct{ target, want string }{
		{"type: blueworks\nurl: https://www.blueworkslive.com\nauth: {type: basic, username: u, password: p}", `auth.type: blueworks FileUpload takes oauth2 client credentials`},
		{"type: blueworks\nurl: https://www.blueworkslive.com\nauth: {type: oauth2, client_id: a, client_secret: b}\naccount: x", `unknown key "account"`},
	} {
		_, err := targettest.TryBuild(t, c.target, watch)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("target %q: error %v, want it to contain %q", c.target, err, c.want)
		}
	}
}

func TestSkipUsesTheStateTable(t *testing.T) {
	e := setup(t, "destination: "+instanceDest+"\non_conflict: skip")
	f, sum := e.File(t, "a.txt", 100)
	res, err := e.Deliver(t.Context(), f, nil)
	if err != nil || res.Skipped {
		t.Fatalf("first delivery: skipped %v, %v", res != nil && res.Skipped, err)
	}
	if a := onlyAttachment(t, e.fake); a.SHA256 != sum {
		t.Fatalf("received %s, want %s", a.SHA256, sum)
	}

	f, _ = e.File(t, "a.txt", 200) // changed, but delivered before
	f.Previous = &res.Remote
	again, err := e.Deliver(t.Context(), f, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Skipped || again.Remote.ID != res.Remote.ID {
		t.Errorf("second delivery: skipped %v, remote %+v; want skipped with %+v", again.Skipped, again.Remote, res.Remote)
	}
	if s := e.fake.Stats(); s.Uploads != 1 {
		t.Errorf("fake saw %d uploads, want 1", s.Uploads)
	}
}

func TestRenameAddsAnAttachmentPerChange(t *testing.T) {
	e := setup(t, "destination: "+instanceDest+"\non_conflict: rename")
	f, sum1 := e.File(t, "sub/dir/plan.docx", 1000)
	r1, err := e.Deliver(t.Context(), f, nil)
	if err != nil {
		t.Fatal(err)
	}
	f, sum2 := e.File(t, "sub/dir/plan.docx", 2000)
	f.Previous = &r1.Remote
	r2, err := e.Deliver(t.Context(), f, nil)
	if err != nil {
		t.Fatal(err)
	}
	as := e.fake.Attachments()
	if len(as) != 2 {
		t.Fatalf("%d attachments, want 2", len(as))
	}
	if as[0].Name != "plan.docx" || as[1].Name != "plan.docx" {
		t.Errorf("names %q, %q: want the file's own name twice", as[0].Name, as[1].Name)
	}
	if as[0].SHA256 != sum1 || as[1].SHA256 != sum2 || r1.Remote.ID == r2.Remote.ID {
		t.Errorf("attachments %+v; recorded ids %s, %s", as, r1.Remote.ID, r2.Remote.ID)
	}
}

func TestUploadStatuses(t *testing.T) {
	for _, c := range []struct {
		name     string
		arm      func(*Fake)
		kind     targets.Kind
		attempts int
		want     string
	}{
		{"SIZE", func(f *Fake) { f.SetSizeLimit(10) }, targets.Permanent, 0, "status SIZE: the file is larger than the 50 MB limit"},
		{"SPACE", func(f *Fake) { f.SetSpaceFull(true) }, targets.Permanent, 0, "status SPACE: the account has no space left"},
		{"FAILED_DELETED", func(f *Fake) { f.StatusNext(1, "FAILED_DELETED") }, targets.Permanent, 0, "the server rejected the file (virus or not-permitted content)"},
		{"FAILED", func(f *Fake) { f.StatusNext(1, "FAILED") }, targets.Retryable, 3, "status FAILED: the upload failed"},
		{"unknown", func(f *Fake) { f.StatusNext(1, "PENDING") }, targets.Retryable, 3, `unexpected status "PENDING"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := setup(t, "destination: "+instanceDest+"\non_conflict: rename")
			c.arm(e.fake)
			f, _ := e.File(t, "x.bin", 100)
			_, err := e.Deliver(t.Context(), f, nil)
			te := targetError(t, err)
			if te.Kind != c.kind || te.MaxAttempts != c.attempts || !strings.Contains(te.Error(), c.want) {
				t.Errorf("got %s (max attempts %d): %v; want %s (max attempts %d) with %q", te.Kind, te.MaxAttempts, err, c.kind, c.attempts, c.want)
			}
			if n := len(e.fake.Attachments()); n != 0 {
				t.Errorf("fake kept %d attachments", n)
			}
		})
	}
}

func TestHTTPFailures(t *testing.T) {
	for _, c := range []struct {
		name  string
		arm   func(*Fake)
		kind  targets.Kind
		after time.Duration
		want  string
	}{
		{"429", func(f *Fake) { f.ThrottleNext(1, 7*time.Second) }, targets.Throttled, 7 * time.Second, "Too Many Requests (HTTP 429)"},
		{"500", func(f *Fake) { f.FailNext(1, 500) }, targets.Retryable, 0, "simulated server error (HTTP 500)"},
		{"403", func(f *Fake) { f.FailNext(1, 403) }, targets.Auth, 0, "simulated server error (HTTP 403)"},
		// A 401 is answered with a new token once; a second 401 is final.
		{"401 twice", func(f *Fake) { f.FailNext(2, 401) }, targets.Auth, 0, "simulated server error (HTTP 401)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := setup(t, "destination: "+instanceDest+"\non_conflict: rename")
			c.arm(e.fake)
			f, sum := e.File(t, "x.bin", 100)
			_, err := e.Deliver(t.Context(), f, nil)
			te := targetError(t, err)
			if te.Kind != c.kind || te.RetryAfter != c.after || !strings.Contains(te.Error(), c.want) {
				t.Errorf("got %s after %s: %v; want %s after %s with %q", te.Kind, te.RetryAfter, err, c.kind, c.after, c.want)
			}
			// The knob answered once; the next try goes through.
			if _, err := e.Deliver(t.Context(), f, nil); err != nil {
				t.Fatal(err)
			}
			if a := onlyAttachment(t, e.fake); a.SHA256 != sum {
				t.Errorf("received %s, want %s", a.SHA256, sum)
			}
		})
	}
}

func TestBadCredentialsAreAnAuthFailure(t *testing.T) {
	fake, srv := newServer(t)
	const secret = "not-the-demo-secret"
	e := targettest.Build(t, fmt.Sprintf("type: blueworks\nurl: %s\nauth: {type: oauth2, client_id: %s, client_secret: %s}", srv.URL, DemoClientID, secret),
		"destination: "+instanceDest+"\non_conflict: rename")
	f, _ := e.File(t, "x.bin", 100)
	_, err := e.Deliver(t.Context(), f, nil)
	te := targetError(t, err)
	if te.Kind != targets.Auth || !strings.Contains(err.Error(), "invalid_client: Bad client credentials") {
		t.Errorf("got %s: %v; want an auth failure with the server's words", te.Kind, err)
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("the error reveals the client secret: %v", err)
	}
	if s := fake.Stats(); s.Uploads != 0 || s.TokensIssued != 0 {
		t.Errorf("fake stats %+v: want no token and no upload", s)
	}
}

func TestLimitCheckedBeforeSending(t *testing.T) {
	e := setup(t, "destination: "+instanceDest+"\non_conflict: rename")
	f := sparseFile(t, e.Env, "big.bin", MaxFileSize+1)
	_, err := e.Deliver(t.Context(), f, nil)
	te := targetError(t, err)
	if te.Kind != targets.Permanent || !strings.Contains(err.Error(), "over the Blueworks FileUpload limit of 50 MB (50,000,000 bytes); nothing was sent") {
		t.Errorf("got %s: %v", te.Kind, err)
	}
	if s := e.fake.Stats(); s.Uploads != 0 || s.TokenRequests != 0 {
		t.Errorf("fake stats %+v: want no request at all", s)
	}
}

// The fake applies the same limit: with max_file_size raised, the file is
// sent and answered with SIZE.
func TestFakeAnswersSizeAboveTheLimit(t *testing.T) {
	fake, srv := newServer(t)
	e := targettest.Build(t, fake.Setup(srv.URL).Target+"max_file_size: 60MB\n", "destination: "+instanceDest+"\non_conflict: rename")
	f := sparseFile(t, e, "big.bin", MaxFileSize+1)
	_, err := e.Deliver(t.Context(), f, nil)
	if te := targetError(t, err); te.Kind != targets.Permanent || !strings.Contains(err.Error(), "status SIZE") {
		t.Errorf("got %s: %v", te.Kind, err)
	}
	if s := fake.Stats(); s.Uploads != 1 {
		t.Errorf("fake saw %d uploads, want 1", s.Uploads)
	}
}

func sparseFile(t testing.TB, e *targettest.Env, rel string, size int64) *targets.File {
	t.Helper()
	fh, err := os.Create(filepath.Join(e.Dir, rel))
	if err != nil {
		t.Fatal(err)
	}
	if err := fh.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if err := fh.Close(); err != nil {
		t.Fatal(err)
	}
	return e.Stat(t, rel)
}

func TestTokenCachedUntilNearExpiry(t *testing.T) {
	e := setup(t, "destination: "+instanceDest+"\non_conflict: rename")
	for i := range 2 {
		f, _ := e.File(t, fmt.Sprintf("a%d.txt", i), 10)
		if _, err := e.Deliver(t.Context(), f, nil); err != nil {
			t.Fatal(err)
		}
	}
	if s := e.fake.Stats(); s.TokensIssued != 1 {
		t.Errorf("an hour-long token: %d tokens issued for 2 uploads, want 1", s.TokensIssued)
	}

	// A token that expires within the client's early-refresh margin is
	// fetched again before the next call, never used stale.
	e = setup(t, "destination: "+instanceDest+"\non_conflict: rename")
	e.fake.SetTokenLifetime(5 * time.Second)
	for i := range 3 {
		f, _ := e.File(t, fmt.Sprintf("b%d.txt", i), 10)
		if _, err := e.Deliver(t.Context(), f, nil); err != nil {
			t.Fatal(err)
		}
	}
	if s := e.fake.Stats(); s.TokensIssued != 3 || s.Unauthorized != 0 {
		t.Errorf("short-lived tokens: stats %+v, want a fresh token per upload and no 401", s)
	}
}

func TestTokenExpiredMidRunIsRefreshedOnce(t *testing.T) {
	e := setup(t, "destination: "+instanceDest+"\non_conflict: rename")
	f, _ := e.File(t, "first.bin", 100)
	if _, err := e.Deliver(t.Context(), f, nil); err != nil {
		t.Fatal(err)
	}
	e.fake.ExpireTokens()
	// Big enough that the 401 arrives while the body is still being sent.
	f, sum := e.File(t, "second.bin", 4<<20)
	res, err := e.Deliver(t.Context(), f, nil)
	if err != nil {
		t.Fatal(err)
	}
	as := e.fake.Attachments()
	if len(as) != 2 || as[1].SHA256 != sum || res.SHA256 != sum {
		t.Fatalf("received %+v, sent %s; want the second file %s", as, res.SHA256, sum)
	}
	if s := e.fake.Stats(); s.Unauthorized != 1 || s.TokensIssued != 2 || s.Uploads != 3 {
		t.Errorf("stats %+v: want one 401, two tokens, three upload requests", s)
	}
}

func TestRedirectToAccountServerFollowedAndRemembered(t *testing.T) {
	account, accountSrv := newServer(t)
	general, generalSrv := newServer(t)
	general.RedirectTo(accountSrv.URL)
	e := targettest.Build(t, general.Setup(generalSrv.URL).Target, "destination: "+instanceDest+"\non_conflict: rename")

	for i := range 3 {
		f, sum := e.File(t, fmt.Sprintf("f%d.bin", i), 64<<10)
		if _, err := e.Deliver(t.Context(), f, nil); err != nil {
			t.Fatal(err)
		}
		if as := account.Attachments(); len(as) != i+1 || as[i].SHA256 != sum {
			t.Fatalf("account server holds %+v after upload %d", as, i)
		}
	}
	if s := general.Stats(); s.Redirects != 1 || s.Uploads != 0 {
		t.Errorf("general host stats %+v: want only the first (token) request, redirected", s)
	}
	if s := account.Stats(); s.TokensIssued != 1 || s.Uploads != 3 {
		t.Errorf("account server stats %+v", s)
	}
}

func TestRedirectedUploadIsSentAgainWhole(t *testing.T) {
	account, accountSrv := newServer(t)
	general, generalSrv := newServer(t)
	general.RedirectTo(accountSrv.URL)
	// The token comes straight from the account server, so the first call
	// to the general host is the streamed upload itself.
	e := targettest.Build(t, fmt.Sprintf("type: blueworks\nurl: %s\nauth: {type: oauth2, token_url: %s/oauth/token, client_id: %s, client_secret: %s}",
		generalSrv.URL, accountSrv.URL, DemoClientID, DemoClientSecret), "destination: "+instanceDest+"\non_conflict: rename")

	for i := range 2 {
		f, sum := e.File(t, fmt.Sprintf("f%d.bin", i), 3<<20)
		res, err := e.Deliver(t.Context(), f, nil)
		if err != nil {
			t.Fatal(err)
		}
		if as := account.Attachments(); len(as) != i+1 || as[i].SHA256 != sum || res.SHA256 != sum {
			t.Fatalf("upload %d: account holds %+v, driver hashed %s, file %s", i, as, res.SHA256, sum)
		}
	}
	if s := general.Stats(); s.Redirects != 1 {
		t.Errorf("general host redirected %d requests, want 1 (the move is remembered)", s.Redirects)
	}
}

func TestRedirectOffTheAccountRefused(t *testing.T) {
	general, generalSrv := newServer(t)
	general.RedirectTo("https://blueworks.example.net")
	e := targettest.Build(t, general.Setup(generalSrv.URL).Target, "destination: "+instanceDest+"\non_conflict: rename")
	f, _ := e.File(t, "x.bin", 10)
	_, err := e.Deliver(t.Context(), f, nil)
	te := targetError(t, err)
	if te.Kind != targets.Permanent || !strings.Contains(err.Error(), "redirected to https://blueworks.example.net/oauth/token, which dropsync does not follow") {
		t.Errorf("got %s: %v", te.Kind, err)
	}
}

func TestSameAccount(t *testing.T) {
	for _, c := range []struct {
		from, to string
		want     bool
	}{
		{"www.blueworkslive.com", "us001.blueworkslive.com", true},
		{"blueworkslive.com", "ibm.blueworkslive.com", true},
		{"WWW.BlueworksLive.com", "us001.blueworkslive.com", true},
		{"127.0.0.1", "127.0.0.1", true},
		{"us001.blueworkslive.com", "us002.blueworkslive.com", false},
		{"www.blueworkslive.com", "blueworkslive.com.evil.net", false},
		{"www.blueworkslive.com", "evilblueworkslive.com", false},
		{"127.0.0.1", "127.0.0.2", false},
		{"www.com", "evil.www.com", true}, // "www.com" is a host name, not the www of "com"
		{"www.co", "x.co", false},
	} {
		if got := sameAccount(c.from, c.to); got != c.want {
			t.Errorf("sameAccount(%q, %q) = %v, want %v", c.from, c.to, got, c.want)
		}
	}
}

func TestConcurrentUploadsThroughAMove(t *testing.T) {
	account, accountSrv := newServer(t)
	general, generalSrv := newServer(t)
	general.RedirectTo(accountSrv.URL)
	account.SetTokenLifetime(5 * time.Second) // a token per call: token and upload calls interleave
	e := targettest.Build(t, general.Setup(generalSrv.URL).Target, "destination: "+instanceDest+"\non_conflict: rename")

	const n = 8
	sums := map[string]string{}
	files := make([]*targets.File, n)
	for i := range n {
		f, sum := e.File(t, fmt.Sprintf("c%d.bin", i), int64(100<<10+i))
		files[i], sums[f.Name()] = f, sum
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, f := range files {
		wg.Go(func() {
			if _, err := e.Deliver(context.Background(), f, nil); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	as := account.Attachments()
	if len(as) != n {
		t.Fatalf("%d attachments, want %d", len(as), n)
	}
	for _, a := range as {
		if sums[a.Name] != a.SHA256 {
			t.Errorf("%s: received %s, want %s", a.Name, a.SHA256, sums[a.Name])
		}
	}
}

// The file streams: what the whole exchange allocates, client and fake
// server together, stays far below the file's size.
func TestUploadStreamsWithoutBuffering(t *testing.T) {
	e := setup(t, "destination: "+instanceDest+"\non_conflict: rename")
	const size = 40 << 20
	f, sum := e.File(t, "big.bin", size)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	res, err := e.Deliver(t.Context(), f, nil)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if res.SHA256 != sum || onlyAttachment(t, e.fake).SHA256 != sum {
		t.Fatal("content differs")
	}
	t.Logf("allocated %d KiB", (after.TotalAlloc-before.TotalAlloc)>>10)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > size/8 {
		t.Errorf("a %d MiB upload allocated %d KiB: the file is buffered", size>>20, alloc>>10)
	}
}

func TestLimiter(t *testing.T) {
	e := setup(t, "destination: "+instanceDest+"\non_conflict: rename")
	n, what := e.Target.(targets.Limiter).MaxFileSize()
	if n != 50_000_000 || !strings.Contains(what, "50 MB") {
		t.Errorf("limit %d %q", n, what)
	}
}

func TestCheckFetchesAToken(t *testing.T) {
	e := setup(t, "destination: "+instanceDest+"\non_conflict: rename")
	if err := e.Target.(targets.Checker).Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	if s := e.fake.Stats(); s.TokensIssued != 1 || s.Uploads != 0 {
		t.Errorf("stats %+v: want one token and no upload", s)
	}

	fake, srv := newServer(t)
	bad := targettest.Build(t, fmt.Sprintf("type: blueworks\nurl: %s\nauth: {type: oauth2, client_id: nobody, client_secret: x}", srv.URL),
		"destination: "+instanceDest+"\non_conflict: rename")
	err := bad.Target.(targets.Checker).Check(t.Context())
	if err == nil || !strings.Contains(err.Error(), "invalid_client") {
		t.Errorf("bad credentials: %v", err)
	}
	if s := fake.Stats(); s.TokenRequests != 1 || s.TokensIssued != 0 {
		t.Errorf("stats %+v", s)
	}
}

// BenchmarkUpload streams files through the real driver to the fake over
// loopback. Peak RSS (VmHWM, the process's high-water mark) stays flat from
// 4 MiB to 1 GiB: the file is never buffered. The 1 GiB file is sparse and
// sent with max_file_size and the fake's limit raised.
func BenchmarkUpload(b *testing.B) {
	for _, size := range []int64{4 << 20, 40 << 20, 1 << 30} {
		b.Run(config.FormatBytes(size), func(b *testing.B) {
			fake, srv := newServer(b)
			fake.SetSizeLimit(size)
			e := targettest.Build(b, fake.Setup(srv.URL).Target+"max_file_size: 2GiB\n", "destination: "+instanceDest+"\non_conflict: rename")
			var f *targets.File
			if size < MaxFileSize {
				f, _ = e.File(b, "bench.bin", size)
			} else {
				f = sparseFile(b, e, "bench.bin", size)
			}
			for b.Loop() {
				if _, err := e.Deliver(b.Context(), f, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(size)*float64(b.N)/b.Elapsed().Seconds()/1e6, "MB/s")
			b.ReportMetric(peakRSSMiB(b), "peak-RSS-MiB")
		})
	}
}

// peakRSSMiB reads the process's peak resident set size (VmHWM).
func peakRSSMiB(tb testing.TB) float64 {
	tb.Helper()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Skipf("no peak RSS here: %v", err)
	}
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.Fields(v)[0], 64)
			if err != nil {
				tb.Fatalf("VmHWM %q: %v", v, err)
			}
			return kb / 1024
		}
	}
	tb.Skip("no VmHWM in /proc/self/status")
	return 0
}
