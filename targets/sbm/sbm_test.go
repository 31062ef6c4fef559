package sbm_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/dropsync/dropsync/targets"
	"github.com/dropsync/dropsync/targets/sbm"
	"github.com/dropsync/dropsync/targets/targettest"
)

const (
	table = "1000"
	item  = "140"
	field = "FILEFIELD"
)

// bundle is one fake server and one target with one watch on it.
type bundle struct {
	fake *sbm.Fake
	srv  *httptest.Server
	env  *targettest.Env
}

// setup starts a fake and builds a target from its Setup block plus
// targetExtra, with a watch on the fake's destination (unless watchExtra
// has its own) plus watchExtra.
func setup(t testing.TB, targetExtra, watchExtra string) *bundle {
	t.Helper()
	fake := sbm.NewFake()
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	s := fake.Setup(srv.URL)
	if !strings.Contains(watchExtra, "destination:") {
		watchExtra = "destination: " + s.Destination + "\n" + watchExtra
	}
	env := targettest.Build(t, s.Target+targetExtra, watchExtra)
	return &bundle{fake: fake, srv: srv, env: env}
}

// deliver runs the driver and fails the test on error.
func (b *bundle) deliver(t testing.TB, f *targets.File) *targets.Result {
	t.Helper()
	res, err := b.env.Deliver(context.Background(), f, nil)
	if err != nil {
		t.Fatalf("deliver %s: %v", f.Rel, err)
	}
	return res
}

func (b *bundle) files() []sbm.FileObject { return b.fake.Files(table, item, field) }

// updates returns the UpdateFileField requests the fake answered.
func (b *bundle) updates() []sbm.Request {
	var out []sbm.Request
	for _, r := range b.fake.Requests() {
		if r.Op == "UpdateFileField" {
			out = append(out, r)
		}
	}
	return out
}

func kindOf(t *testing.T, err error) targets.Kind {
	t.Helper()
	var te *targets.Error
	if !errors.As(err, &te) {
		t.Fatalf("error %v (%T) is not a *targets.Error", err, err)
	}
	return te.Kind
}

func TestVersionAddsThenUpdatesSameObject(t *testing.T) {
	b := setup(t, "", "on_conflict: version")
	f, sum := b.env.File(t, "sub/report.pdf", 100_000)
	res := b.deliver(t, f)
	if res.SHA256 != sum {
		t.Fatalf("driver hash %s, want %s", res.SHA256, sum)
	}
	objs := b.files()
	if len(objs) != 1 || objs[0].Name != "report.pdf" || objs[0].Filename != "report.pdf" || objs[0].SHA256 != sum || objs[0].Size != 100_000 {
		t.Fatalf("field holds %+v, want report.pdf with the file's content", objs)
	}
	if res.Remote.ID != "27" || res.Remote.Extra["uuid"] != objs[0].UUID || res.Remote.Name != "report.pdf" {
		t.Fatalf("remote %+v, want id 27 and uuid %s", res.Remote, objs[0].UUID)
	}
	ups := b.updates()
	if len(ups) != 1 {
		t.Fatalf("%d update requests, want 1", len(ups))
	}
	u := ups[0]
	if u.Objects[0].Action != "NEW-ONLY" || u.Objects[0].ID != 0 {
		t.Fatalf("first upload sent %+v, want NEW-ONLY with id 0 (nothing recorded)", u.Objects[0])
	}
	if u.BreakLock == nil || *u.BreakLock || u.IncludeFile == nil || *u.IncludeFile || u.AlwaysTrans == nil || *u.AlwaysTrans {
		t.Fatalf("flags breakLock=%v includeFile=%v alwaysTrans=%v, want all sent as false", u.BreakLock, u.IncludeFile, u.AlwaysTrans)
	}
	if u.ContentLength != u.BodyBytes || u.ContentLength <= 100_000*4/3 {
		t.Fatalf("Content-Length %d, body %d bytes: want equal and above the encoded size", u.ContentLength, u.BodyBytes)
	}
	if !strings.HasSuffix(u.Path, "/jsonapi/UpdateFileField/1000/140/FILEFIELD/0") {
		t.Fatalf("path %s", u.Path)
	}

	// The file changes: the recorded object receives the new content.
	f2, sum2 := b.env.File(t, "sub/report.pdf", 5000)
	f2.Previous = &res.Remote
	res2 := b.deliver(t, f2)
	objs = b.files()
	if len(objs) != 1 || objs[0].ID != 27 || objs[0].SHA256 != sum2 || objs[0].Updates != 1 {
		t.Fatalf("after change the field holds %+v, want object 27 with the new content", objs)
	}
	if res2.Remote.ID != "27" {
		t.Fatalf("remote after change %+v", res2.Remote)
	}
	last := b.updates()[1].Objects[0]
	if last.Action != "NEW-UPDATE" || last.ID != 27 || last.UUID != objs[0].UUID {
		t.Fatalf("update sent %+v, want NEW-UPDATE with id 27 and its uuid", last)
	}
	if n := b.fake.Count("GetFileField"); n != 0 {
		t.Fatalf("%d GetFileField lookups, want 0 (the state table knows the object)", n)
	}
}

func TestOverwriteFindsObjectByNameWithoutState(t *testing.T) {
	b := setup(t, "", "on_conflict: overwrite")
	old, err := b.fake.AddFile(table, item, field, "plan.txt", []byte("old"))
	if err != nil {
		t.Fatal(err)
	}
	f, sum := b.env.File(t, "plan.txt", 1234)
	res := b.deliver(t, f)
	objs := b.files()
	if len(objs) != 1 || objs[0].ID != old.ID || objs[0].SHA256 != sum {
		t.Fatalf("field holds %+v, want object %d replaced", objs, old.ID)
	}
	ups := b.updates()
	if res.Remote.ID != "27" || len(ups) != 2 || ups[0].Objects[0].Action != "NEW-ONLY" || ups[1].Objects[0].ID != old.ID {
		t.Fatalf("remote %+v / sent %+v, want a refused NEW-ONLY, then the existing object's id", res.Remote, ups)
	}
}

func TestVersionRecordedObjectGoneIsAddedAgain(t *testing.T) {
	b := setup(t, "", "")
	f, sum := b.env.File(t, "a.txt", 10)
	f.Previous = &targets.Remote{ID: "999", Name: "a.txt", Extra: map[string]string{"uuid": "00000000-0000-4000-8000-000000000000"}}
	res := b.deliver(t, f)
	objs := b.files()
	if len(objs) != 1 || objs[0].SHA256 != sum || res.Remote.ID != "27" {
		t.Fatalf("field %+v remote %+v, want a new object recorded", objs, res.Remote)
	}
}

func TestRenameAddsNextFreeName(t *testing.T) {
	b := setup(t, "", "on_conflict: rename")
	f, _ := b.env.File(t, "scan.tar.gz", 300)
	r1 := b.deliver(t, f)
	f, _ = b.env.File(t, "scan.tar.gz", 301)
	f.Previous = &r1.Remote
	r2 := b.deliver(t, f)
	f, sum3 := b.env.File(t, "scan.tar.gz", 302)
	r3 := b.deliver(t, f)
	if r1.Remote.Name != "scan.tar.gz" || r2.Remote.Name != "scan.tar(2).gz" || r3.Remote.Name != "scan.tar(3).gz" {
		t.Fatalf("names %q %q %q, want scan.tar.gz, scan.tar(2).gz, scan.tar(3).gz", r1.Remote.Name, r2.Remote.Name, r3.Remote.Name)
	}
	objs := b.files()
	if len(objs) != 3 || objs[2].Filename != "scan.tar(3).gz" || objs[2].SHA256 != sum3 {
		t.Fatalf("field holds %+v", objs)
	}
	for _, u := range b.updates() {
		if u.Objects[0].Action != "NEW-ONLY" {
			t.Fatalf("rename sent %s, want NEW-ONLY", u.Objects[0].Action)
		}
	}
}

func TestSkip(t *testing.T) {
	b := setup(t, "", "on_conflict: skip")
	existing, _ := b.fake.AddFile(table, item, field, "keep.txt", []byte("remote"))
	f, _ := b.env.File(t, "keep.txt", 50)
	res := b.deliver(t, f)
	if !res.Skipped || res.Remote.ID != "27" || res.Remote.Extra["uuid"] != existing.UUID {
		t.Fatalf("result %+v, want skipped with the existing object recorded", res)
	}
	if n := len(b.updates()); n != 0 {
		t.Fatalf("%d update requests for a skipped file", n)
	}
	if objs := b.files(); len(objs) != 1 || objs[0].SHA256 != existing.SHA256 {
		t.Fatalf("remote changed: %+v", objs)
	}

	f, sum := b.env.File(t, "new.txt", 60)
	res = b.deliver(t, f)
	if res.Skipped || res.SHA256 != sum {
		t.Fatalf("new file: %+v, want delivered", res)
	}
	if u := b.updates(); len(u) != 1 || u[0].Objects[0].Action != "NEW-ONLY" {
		t.Fatalf("skip sent %+v, want one NEW-ONLY", u)
	}
}

// TestSkipRace: the object appears between Prepare and Put; the refused
// NEW-ONLY counts as done and records the object found.
func TestSkipRace(t *testing.T) {
	b := setup(t, "", "on_conflict: skip")
	f, _ := b.env.File(t, "race.txt", 70)
	ctx := context.Background()
	plan, err := b.env.Target.Prepare(ctx, f)
	if err != nil || plan.Skip {
		t.Fatalf("prepare: %+v %v", plan, err)
	}
	other, _ := b.fake.AddFile(table, item, field, "race.txt", []byte("someone else"))
	fh, err := os.Open(f.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	r, err := b.env.Target.Put(ctx, f, plan, targets.NewBodyForTest(fh, f.Size))
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	if r.ID != "27" || r.Extra["uuid"] != other.UUID {
		t.Fatalf("remote %+v, want the object that appeared", r)
	}
	if objs := b.files(); len(objs) != 1 || objs[0].SHA256 != other.SHA256 {
		t.Fatalf("remote changed: %+v", objs)
	}
}

// TestRenameRace: the chosen name is taken meanwhile; the failure is
// retryable and the next delivery picks the next name.
func TestRenameRace(t *testing.T) {
	b := setup(t, "", "on_conflict: rename")
	f, _ := b.env.File(t, "x.txt", 10)
	ctx := context.Background()
	plan, err := b.env.Target.Prepare(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	b.fake.AddFile(table, item, field, "x.txt", []byte("first"))
	fh, _ := os.Open(f.Path)
	defer fh.Close()
	_, err = b.env.Target.Put(ctx, f, plan, targets.NewBodyForTest(fh, f.Size))
	if err == nil || kindOf(t, err) != targets.Retryable {
		t.Fatalf("put: %v, want retryable", err)
	}
	if res := b.deliver(t, f); res.Remote.Name != "x(2).txt" {
		t.Fatalf("retry named %q, want x(2).txt", res.Remote.Name)
	}
}

func TestDeletePropagation(t *testing.T) {
	b := setup(t, "", "deletes: propagate")
	f, _ := b.env.File(t, "gone.txt", 10)
	keep, _ := b.env.File(t, "stay.txt", 10)
	res := b.deliver(t, f)
	b.deliver(t, keep)
	d := b.env.Target.(targets.Deleter)
	if err := d.Delete(context.Background(), f, res.Remote); err != nil {
		t.Fatalf("delete: %v", err)
	}
	objs := b.files()
	if len(objs) != 1 || objs[0].Name != "stay.txt" {
		t.Fatalf("after delete the field holds %+v", objs)
	}
	sent := b.updates()[2].Objects[0]
	if sent.Action != "DELETE" || sent.ID != 27 || sent.HasData {
		t.Fatalf("delete sent %+v, want DELETE of id 27 without content", sent)
	}
	// Deleting again: the object is gone, which is not an error.
	if err := d.Delete(context.Background(), f, res.Remote); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	// Nothing recorded but the name, and nothing of that name: done.
	if err := d.Delete(context.Background(), f, targets.Remote{Name: "never.txt"}); err != nil {
		t.Fatalf("delete by name: %v", err)
	}
}

func TestLockedItemRetriedThenDelivered(t *testing.T) {
	b := setup(t, "", "")
	if err := b.fake.Lock(table, item, "jsmith"); err != nil {
		t.Fatal(err)
	}
	f, sum := b.env.File(t, "locked.txt", 1000)
	_, err := b.env.Deliver(context.Background(), f, nil)
	if err == nil || kindOf(t, err) != targets.Retryable || !strings.Contains(err.Error(), "locked by user jsmith") {
		t.Fatalf("locked item: %v, want a retryable error naming jsmith", err)
	}
	if len(b.files()) != 0 || b.fake.LockedBy(table, item) != "jsmith" {
		t.Fatal("the lock was stolen or the field changed")
	}
	b.fake.Lock(table, item, "")
	res := b.deliver(t, f)
	if objs := b.files(); len(objs) != 1 || objs[0].SHA256 != sum || res.Remote.ID == "" {
		t.Fatalf("after unlock: %+v", objs)
	}
}

func TestBreakLockOption(t *testing.T) {
	for _, c := range []struct{ name, target, watch string }{
		{"target", "break_lock: true\n", ""},
		{"destination", "", "destination: {table: 1000, item: 140, field: FILEFIELD, break_lock: true}"},
	} {
		t.Run(c.name, func(t *testing.T) {
			fake := sbm.NewFake()
			srv := httptest.NewServer(fake)
			defer srv.Close()
			s := fake.Setup(srv.URL)
			watch := c.watch
			if watch == "" {
				watch = "destination: " + s.Destination
			}
			env := targettest.Build(t, s.Target+c.target, watch)
			fake.Lock(table, item, "jsmith")
			f, _ := env.File(t, "steal.txt", 10)
			if _, err := env.Deliver(context.Background(), f, nil); err != nil {
				t.Fatalf("deliver with break_lock: %v", err)
			}
			reqs := fake.Requests()
			last := reqs[len(reqs)-1]
			if !last.LockBroken || last.BreakLock == nil || !*last.BreakLock {
				t.Fatalf("request %+v, want breakLock true and the lock stolen", last)
			}
		})
	}
}

func TestSSOTokenFetchedUsedAndRefreshed(t *testing.T) {
	fake := sbm.NewFake()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	target := "type: sbm\nurl: " + srv.URL + "\nauth: {type: sso, token_service_url: " + srv.URL + sbm.FakeTokenPath +
		", username: " + sbm.FakeUsername + ", password: " + sbm.FakePassword + "}\n"
	env := targettest.Build(t, target, "destination: {table: 1000, item: 140, field: FILEFIELD}")
	f, _ := env.File(t, "a.txt", 100)
	res, err := env.Deliver(context.Background(), f, nil)
	if err != nil {
		t.Fatal(err)
	}
	g, _ := env.File(t, "b.txt", 100)
	if _, err := env.Deliver(context.Background(), g, nil); err != nil {
		t.Fatal(err)
	}
	if n := fake.Count("TokenService"); n != 1 {
		t.Fatalf("%d token requests for two files, want 1 (cached)", n)
	}
	for _, r := range fake.Requests()[1:] {
		if r.Auth != "sso" {
			t.Fatalf("request %s authenticated as %q, want sso", r.Path, r.Auth)
		}
	}

	fake.ExpireTokens()
	f, sum := env.File(t, "a.txt", 200_000)
	f.Previous = &res.Remote
	if _, err := env.Deliver(context.Background(), f, nil); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if n := fake.Count("TokenService"); n != 2 {
		t.Fatalf("%d token requests, want 2 (refreshed after the 401)", n)
	}
	reqs := fake.Requests()
	tail := reqs[len(reqs)-3:]
	if tail[0].Status != 401 || tail[0].BodyBytes != 0 || tail[1].Op != "TokenService" || tail[2].Status != 200 {
		t.Fatalf("expected 401 (no body sent), token, 200; got %+v", tail)
	}
	if objs := fake.Files(table, item, field); objs[0].SHA256 != sum {
		t.Fatal("content after refresh is wrong")
	}
}

func TestSSOBadCredentials(t *testing.T) {
	fake := sbm.NewFake()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	target := "type: sbm\nurl: " + srv.URL + "\nauth: {type: sso, token_service_url: " + srv.URL + sbm.FakeTokenPath + ", username: u, password: s3cr3t-pw}\n"
	env := targettest.Build(t, target, "destination: {table: 1000, item: 140, field: FILEFIELD}")
	f, _ := env.File(t, "a.txt", 100)
	_, err := env.Deliver(context.Background(), f, nil)
	if err == nil || kindOf(t, err) != targets.Auth || !strings.Contains(err.Error(), "Invalid user name or password") {
		t.Fatalf("err %v, want auth failure with the service's words", err)
	}
	if strings.Contains(err.Error(), "s3cr3t-pw") {
		t.Fatal("the password leaked into the error")
	}
	if fake.Count("UpdateFileField") != 0 || fake.Count("GetFileField") != 0 {
		t.Fatal("API called without a token")
	}
}

func TestBasicAuthRefused(t *testing.T) {
	fake := sbm.NewFake()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	env := targettest.Build(t, "type: sbm\nurl: "+srv.URL+"\nauth: {type: basic, username: dropsync, password: wrong-pw}\n",
		"destination: {table: 1000, item: 140, field: FILEFIELD}")
	f, _ := env.File(t, "a.txt", 100)
	_, err := env.Deliver(context.Background(), f, nil)
	if err == nil || kindOf(t, err) != targets.Auth || strings.Contains(err.Error(), "wrong-pw") {
		t.Fatalf("err %v, want an auth failure without the password", err)
	}
}

func TestOverLimitSendsNothing(t *testing.T) {
	t.Run("max_file_size", func(t *testing.T) {
		b := setup(t, "max_file_size: 1KiB\n", "")
		f, _ := b.env.File(t, "big.bin", 2048)
		_, err := b.env.Deliver(context.Background(), f, nil)
		if err == nil || kindOf(t, err) != targets.Permanent || !strings.Contains(err.Error(), "max_file_size") {
			t.Fatalf("err %v", err)
		}
		if n := len(b.fake.Requests()); n != 0 {
			t.Fatalf("%d requests reached the server", n)
		}
	})
	t.Run("default 500 MB", func(t *testing.T) {
		b := setup(t, "", "")
		p := filepath.Join(b.env.Dir, "huge.iso")
		fh, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		// Sparse: the size is what counts, no disk is used.
		if err := fh.Truncate(sbm.DefaultMaxFileSize + 1); err != nil {
			t.Fatal(err)
		}
		fh.Close()
		_, err = b.env.Deliver(context.Background(), b.env.Stat(t, "huge.iso"), nil)
		if err == nil || kindOf(t, err) != targets.Permanent {
			t.Fatalf("err %v, want permanent", err)
		}
		for _, w := range []string{"huge.iso", "500 MB", "Maximum File Size", "nothing was sent", "max_file_size"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("message %q lacks %q", err, w)
			}
		}
		if n := len(b.fake.Requests()); n != 0 {
			t.Fatalf("%d requests reached the server", n)
		}
		t.Log(err)
	})
}

func TestErrorClassification(t *testing.T) {
	cases := []struct {
		name    string
		arrange func(b *bundle)
		watch   string
		kind    targets.Kind
		words   []string
	}{
		{"503", func(b *bundle) { b.fake.FailNext(503, "Service Unavailable") }, "", targets.Retryable, []string{"Service Unavailable", "503"}},
		{"500", func(b *bundle) { b.fake.FailNext(500, "Database deadlock victim") }, "", targets.Retryable, []string{"deadlock"}},
		{"reset", func(b *bundle) { b.fake.ResetNext() }, "", targets.Retryable, nil},
		{"403", func(b *bundle) { b.fake.FailNext(403, "You do not have privileges to update this field.") }, "", targets.Permanent, []string{"privileges"}},
		{"result ERROR", func(b *bundle) { b.fake.FailNext(200, "The field is read-only in this state.") }, "", targets.Permanent, []string{"read-only"}},
		{"lock as 409", func(b *bundle) { b.fake.FailNext(409, "Item is locked by Joe Smith (jsmith)") }, "", targets.Retryable, []string{"Joe Smith", "break_lock"}},
		{"item 404", nil, "destination: {table: 1000, item: 999, field: FILEFIELD}", targets.Permanent, []string{`item "999" not found (destination.item)`, "Item 1000:999 was not found"}},
		{"table 404", nil, "destination: {table: NOPE, item: 140, field: FILEFIELD}", targets.Permanent, []string{`table "NOPE" not found (destination.table)`}},
		{"field 404", nil, "destination: {table: UBG_ISSUES, item: 140, field: NOFIELD}", targets.Permanent, []string{`field "NOFIELD" not found (destination.field)`}},
		{"transition 404", nil, "destination: {table: 1000, item: 140, field: FILEFIELD, transition: CLOSE}", targets.Permanent, []string{`transition "CLOSE" not found`}},
		{"plain 404", func(b *bundle) { b.fake.FailNext(404, "") }, "", targets.Permanent, []string{"did not say which"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := setup(t, "", c.watch)
			if c.arrange != nil {
				c.arrange(b)
			}
			f, _ := b.env.File(t, "e.txt", 100)
			// A recorded object: no lookup, the failure meets the upload.
			f.Previous = &targets.Remote{ID: "27", Name: "e.txt"}
			_, err := b.env.Deliver(context.Background(), f, nil)
			if err == nil {
				t.Fatal("delivered, want an error")
			}
			if k := kindOf(t, err); k != c.kind {
				t.Fatalf("kind %v, want %v: %v", k, c.kind, err)
			}
			for _, w := range c.words {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if !strings.HasPrefix(err.Error(), "sbm: update file field: ") {
				t.Errorf("error %q does not name the operation", err)
			}
		})
	}
}

func TestLookupFailureNamesOperation(t *testing.T) {
	b := setup(t, "", "on_conflict: rename")
	b.fake.FailNext(502, "Bad Gateway")
	f, _ := b.env.File(t, "l.txt", 10)
	_, err := b.env.Deliver(context.Background(), f, nil)
	if err == nil || kindOf(t, err) != targets.Retryable || !strings.HasPrefix(err.Error(), "sbm: get file field: Bad Gateway") {
		t.Fatalf("err %v, want a retryable lookup failure", err)
	}
	if n := b.fake.Count("UpdateFileField"); n != 0 {
		t.Fatalf("%d uploads after a failed lookup", n)
	}
}

func TestNotTheJSONAPI(t *testing.T) {
	login := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<html><body>Please log in</body></html>")
	}))
	defer login.Close()
	env := targettest.Build(t, "type: sbm\nurl: "+login.URL+"\nauth: {type: basic, username: u, password: p}\n", "destination: {table: 1000, item: 140, field: F}")
	f, _ := env.File(t, "a.txt", 10)
	f.Previous = &targets.Remote{ID: "5"}
	_, err := env.Deliver(context.Background(), f, nil)
	// A page answered 200 in place of the JSON API is about the target (a
	// proxy's login page, a wrong url), not the file: Unreachable, so the
	// target goes down and the files wait, instead of every queued file
	// failing permanently.
	if err == nil || kindOf(t, err) != targets.Unreachable || !strings.Contains(err.Error(), "Please log in") || !strings.Contains(err.Error(), "is url") {
		t.Fatalf("err %v, want an unreachable target quoting the page", err)
	}
	if strings.Contains(err.Error(), "<") {
		t.Errorf("err %v carries the page's markup", err)
	}
}

func TestFileNamesAreEscaped(t *testing.T) {
	b := setup(t, "", "")
	for _, name := range []string{`quote "and" back\slash.txt`, "ünïcødé €.txt", "tab\tname.txt", "<html>&amp;.txt"} {
		f, sum := b.env.File(t, name, 33)
		res := b.deliver(t, f)
		if res.Remote.Name != name {
			t.Fatalf("recorded %q, want %q", res.Remote.Name, name)
		}
		objs := b.files()
		if o := objs[len(objs)-1]; o.Filename != name || o.SHA256 != sum {
			t.Fatalf("stored %+v for %q", o, name)
		}
	}
}

func TestEmptyFile(t *testing.T) {
	b := setup(t, "", "")
	f, sum := b.env.File(t, "empty.txt", 0)
	b.deliver(t, f)
	if objs := b.files(); len(objs) != 1 || objs[0].Size != 0 || objs[0].SHA256 != sum {
		t.Fatalf("field holds %+v", objs)
	}
}

func TestSizesAroundBase64Groups(t *testing.T) {
	b := setup(t, "", "")
	for _, n := range []int64{1, 2, 3, 4, 5, 48<<10 - 1, 48 << 10, 48<<10 + 1, 1<<20 + 2} {
		f, sum := b.env.File(t, "g.bin", n)
		b.deliver(t, f)
		objs := b.files()
		if objs[0].Size != n || objs[0].SHA256 != sum {
			t.Fatalf("size %d: stored %+v", n, objs[0])
		}
		u := b.updates()
		if last := u[len(u)-1]; last.ContentLength != last.BodyBytes {
			t.Fatalf("size %d: Content-Length %d, body %d", n, last.ContentLength, last.BodyBytes)
		}
	}
}

func TestConcurrentDeliveries(t *testing.T) {
	b := setup(t, "", "")
	const n = 12
	files := make([]*targets.File, n)
	sums := map[string]string{}
	for i := range files {
		name := "c" + string(rune('a'+i)) + ".bin"
		files[i], sums[name] = b.env.File(t, name, int64(20_000+i))
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, f := range files {
		wg.Go(func() {
			if _, err := b.env.Deliver(context.Background(), f, nil); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	objs := b.files()
	if len(objs) != n {
		t.Fatalf("%d objects, want %d", len(objs), n)
	}
	for _, o := range objs {
		if sums[o.Name] != o.SHA256 {
			t.Errorf("%s: wrong content", o.Name)
		}
	}
}

func TestCanceledContextStopsUpload(t *testing.T) {
	b := setup(t, "", "")
	f, _ := b.env.File(t, "c.bin", 1<<20)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := b.env.Deliver(ctx, f, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if len(b.files()) != 0 {
		t.Fatal("a canceled delivery stored a file")
	}
}

func TestWatchValidation(t *testing.T) {
	fake := sbm.NewFake()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	target := fake.Setup(srv.URL).Target
	cases := []struct{ target, watch, want string }{
		{target, "destination: {item: 140, field: F}", "destination.table: required"},
		{target, "destination: {table: 1000, field: F}", "destination.item: required"},
		{target, "destination: {table: 1000, item: 140}", "destination.field: required"},
		{target, "destination: {table: 1000, item: 140, field: F, path: /x}", "path"},
		{target + "brk_lock: true\n", "destination: {table: 1000, item: 140, field: F}", "brk_lock"},
		{strings.Replace(target, "type: basic", "type: bearer, token: x", 1), "destination: {table: 1000, item: 140, field: F}", `auth.type: "bearer" is not supported here (use basic or sso)`},
		{"type: sbm\nurl: " + srv.URL + "\nauth: {type: sso, token_service_url: 'ftp://x', username: u, password: p}\n", "destination: {table: 1000, item: 140, field: F}", "auth.token_service_url"},
	}
	for _, c := range cases {
		_, err := targettest.TryBuild(t, c.target, c.watch)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("watch %q: err %v, want %q", c.watch, err, c.want)
		}
	}
	for _, oc := range []string{"version", "overwrite", "rename", "skip"} {
		env, err := targettest.TryBuild(t, target, "destination: {table: 1000, item: 140, field: FILEFIELD}\non_conflict: "+oc+"\ndeletes: propagate")
		if err != nil {
			t.Fatalf("on_conflict %s: %v", oc, err)
		}
		d := env.Dest.(*sbm.Destination)
		if d.Table != "1000" || d.Item != "140" || d.Transition != "0" {
			t.Fatalf("destination %+v, want numbers as strings and transition 0", d)
		}
	}
}

func TestFakeSetupWorks(t *testing.T) {
	f, err := targets.NewFake(sbm.Type)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(f)
	defer srv.Close()
	s := f.Setup(srv.URL)
	env := targettest.Build(t, s.Target, "destination: "+s.Destination)
	file, sum := env.File(t, "demo.txt", 10)
	if _, err := env.Deliver(context.Background(), file, nil); err != nil {
		t.Fatal(err)
	}
	if objs := f.(*sbm.Fake).Files(table, item, field); len(objs) != 1 || objs[0].SHA256 != sum {
		t.Fatalf("fake holds %+v", objs)
	}
	if len(s.Notes) == 0 {
		t.Fatal("no notes")
	}
}

// TestNewFileIsOneRequest: a new file under version (and overwrite) costs
// one request, the upload: no GetFileField lookup, since the state table
// already holds every object dropsync delivered. An object of the same
// name that dropsync did not record is still found and updated.
func TestNewFileIsOneRequest(t *testing.T) {
	for _, policy := range []string{"version", "overwrite"} {
		t.Run(policy, func(t *testing.T) {
			b := setup(t, "", "on_conflict: "+policy)
			for _, name := range []string{"a.pdf", "b.pdf", "c.pdf"} {
				f, sum := b.env.File(t, name, 4<<10)
				if res := b.deliver(t, f); res.SHA256 != sum || res.Remote.ID == "" {
					t.Fatalf("%s: result %+v", name, res)
				}
			}
			if n := len(b.fake.Requests()); n != 3 {
				t.Fatalf("%d requests for 3 new files, want 3", n)
			}
			if n := len(b.files()); n != 3 {
				t.Fatalf("%d objects in the field, want 3", n)
			}
		})
	}
}
