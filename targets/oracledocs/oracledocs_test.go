package oracledocs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dropsync/dropsync/targets"
	"github.com/dropsync/dropsync/targets/oracledocs"
	"github.com/dropsync/dropsync/targets/targettest"
)

// bundle is one fake server and one target built from its Setup.
type bundle struct {
	fake *oracledocs.Fake
	srv  *httptest.Server
	env  *targettest.Env
}

// setup serves a fresh fake and builds a target from its Setup, with
// extraTarget appended to the target block and watchYAML added to the
// watch (after the Setup's destination unless watchYAML has its own).
func setup(t *testing.T, extraTarget, watchYAML string) *bundle {
	t.Helper()
	fake := oracledocs.NewFake()
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	s := fake.Setup(srv.URL)
	if !strings.Contains(watchYAML, "destination:") {
		watchYAML = "destination: " + s.Destination + "\n" + watchYAML
	}
	env := targettest.Build(t, s.Target+extraTarget, watchYAML)
	return &bundle{fake: fake, srv: srv, env: env}
}

func (b *bundle) deliver(t *testing.T, f *targets.File) *targets.Result {
	t.Helper()
	res, err := b.env.Deliver(context.Background(), f, nil)
	if err != nil {
		t.Fatalf("deliver %s: %v", f.Rel, err)
	}
	return res
}

// remote returns the fake's file at rel below the demo folder.
func (b *bundle) remote(t *testing.T, rel string) oracledocs.FakeFile {
	t.Helper()
	f, ok := b.fake.Find(oracledocs.FakeFolderID, rel)
	if !ok {
		t.Fatalf("no remote file %s", rel)
	}
	return f
}

func (b *bundle) parts(op oracledocs.FakeOp) [][]string {
	var out [][]string
	for _, r := range b.fake.Requests() {
		if r.Op == op {
			out = append(out, r.Parts)
		}
	}
	return out
}

func TestNewFileIsCreated(t *testing.T) {
	b := setup(t, "", "")
	f, sum := b.env.File(t, "report.pdf", 70_000)
	res := b.deliver(t, f)

	if res.Remote.ID == "" || res.Remote.Version != "1" || res.Remote.Name != "report.pdf" {
		t.Fatalf("remote = %+v, want an id, version 1, name report.pdf", res.Remote)
	}
	if res.SHA256 != sum {
		t.Errorf("driver hashed %s, want %s", res.SHA256, sum)
	}
	got := b.remote(t, "report.pdf")
	if got.ID != res.Remote.ID || len(got.Versions) != 1 || got.Latest().SHA256 != sum || got.Latest().Size != 70_000 {
		t.Fatalf("server holds %+v, want one version with sha %s", got, sum)
	}
	if p := b.parts(oracledocs.OpUpload); !slices.Equal(p[0], []string{"jsonInputParameters", "primaryFile"}) {
		t.Errorf("parts = %v, want jsonInputParameters then primaryFile", p[0])
	}
	for _, r := range b.fake.Requests() {
		if r.APIVersion != "1.2" || r.Auth != "basic" {
			t.Errorf("%s %s: api %q auth %q, want 1.2 and basic", r.Method, r.Path, r.APIVersion, r.Auth)
		}
	}
}

func TestModifiedFileBecomesNextVersionOfSameID(t *testing.T) {
	b := setup(t, "", "")
	f, _ := b.env.File(t, "a.txt", 1000)
	first := b.deliver(t, f)

	f, sum := b.env.File(t, "a.txt", 2000)
	f.Previous = &first.Remote
	second := b.deliver(t, f)

	if second.Remote.ID != first.Remote.ID || second.Remote.Version != "2" {
		t.Fatalf("second delivery = %+v, want id %s version 2", second.Remote, first.Remote.ID)
	}
	got := b.remote(t, "a.txt")
	if len(got.Versions) != 2 || got.Latest().SHA256 != sum || got.Latest().Size != 2000 {
		t.Fatalf("server holds %+v, want version 2 with sha %s", got.Versions, sum)
	}
	if n := b.fake.Count(oracledocs.OpUploadVersion); n != 1 {
		t.Errorf("%d Upload File Version requests, want 1", n)
	}
	if p := b.parts(oracledocs.OpUploadVersion); !slices.Equal(p[0], []string{"primaryFile"}) {
		t.Errorf("version upload parts = %v, want only primaryFile", p[0])
	}
}

func TestSameNameWithoutRecordBecomesRevision(t *testing.T) {
	b := setup(t, "", "")
	id := b.fake.AddFile(oracledocs.FakeFolderID, "Invoice.PDF", []byte("someone else's"))
	f, sum := b.env.File(t, "invoice.pdf", 500)
	res := b.deliver(t, f)

	if res.Remote.ID != id || res.Remote.Version != "2" {
		t.Fatalf("remote = %+v, want revision 2 of %s", res.Remote, id)
	}
	got, _ := b.fake.File(id)
	if len(got.Versions) != 2 || got.Latest().SHA256 != sum {
		t.Fatalf("server holds %+v", got)
	}
	if n := len(b.fake.Files()); n != 1 {
		t.Errorf("server holds %d files, want 1", n)
	}
}

func TestRenameTakesNextFreeName(t *testing.T) {
	b := setup(t, "", "on_conflict: rename")
	orig := b.fake.AddFile(oracledocs.FakeFolderID, "scan.tiff", []byte("original"))

	f, sum := b.env.File(t, "scan.tiff", 300)
	res := b.deliver(t, f)
	if res.Remote.Name != "scan(2).tiff" || res.Remote.Version != "1" || res.Remote.ID == orig {
		t.Fatalf("remote = %+v, want a new file scan(2).tiff", res.Remote)
	}
	if got := b.remote(t, "scan(2).tiff"); got.Latest().SHA256 != sum {
		t.Errorf("scan(2).tiff has sha %s, want %s", got.Latest().SHA256, sum)
	}
	if got, _ := b.fake.File(orig); len(got.Versions) != 1 {
		t.Errorf("the original got %d versions, want it untouched", len(got.Versions))
	}

	// Changed again, with the record: the next free name.
	f, _ = b.env.File(t, "scan.tiff", 400)
	f.Previous = &res.Remote
	if res := b.deliver(t, f); res.Remote.Name != "scan(3).tiff" {
		t.Fatalf("third delivery named %q, want scan(3).tiff", res.Remote.Name)
	}

	// A free name is used as it is; names without extension get the suffix at the end.
	f, _ = b.env.File(t, "README", 10)
	if res := b.deliver(t, f); res.Remote.Name != "README" {
		t.Fatalf("free name became %q", res.Remote.Name)
	}
	f, _ = b.env.File(t, "README", 11)
	if res := b.deliver(t, f); res.Remote.Name != "README(2)" {
		t.Fatalf("taken name became %q, want README(2)", res.Remote.Name)
	}
}

func TestSkipLeavesServerUnchanged(t *testing.T) {
	b := setup(t, "", "on_conflict: skip")
	id := b.fake.AddFile(oracledocs.FakeFolderID, "keep.txt", []byte("theirs"))
	before, _ := b.fake.File(id)

	f, _ := b.env.File(t, "keep.txt", 100)
	res := b.deliver(t, f)
	if !res.Skipped || res.Remote.ID != id || res.Remote.Version != "1" {
		t.Fatalf("result = %+v, want skipped with the existing file recorded", res)
	}
	after, _ := b.fake.File(id)
	if fmt.Sprint(before.Versions) != fmt.Sprint(after.Versions) {
		t.Errorf("server changed: %+v → %+v", before.Versions, after.Versions)
	}
	if n := b.fake.Count(oracledocs.OpUpload) + b.fake.Count(oracledocs.OpUploadVersion); n != 0 {
		t.Errorf("%d upload requests, want none", n)
	}

	// With a record, nothing is even looked up.
	n := len(b.fake.Requests())
	f.Previous = &res.Remote
	if res := b.deliver(t, f); !res.Skipped || res.Remote.ID != id {
		t.Fatalf("recorded file: result = %+v, want skipped", res)
	}
	if len(b.fake.Requests()) != n {
		t.Errorf("skip with a record sent %d requests, want none", len(b.fake.Requests())-n)
	}

	// A name that is free is uploaded.
	f, sum := b.env.File(t, "new.txt", 100)
	if res := b.deliver(t, f); res.Skipped || b.remote(t, "new.txt").Latest().SHA256 != sum {
		t.Fatalf("free name: result = %+v, want uploaded", res)
	}
}

func TestOverwriteBehavesLikeVersionAndWarns(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })

	b := setup(t, "", "on_conflict: overwrite")
	mu.Lock()
	warned := strings.Contains(logs.String(), "level=WARN") && strings.Contains(logs.String(), "new version")
	mu.Unlock()
	if !warned {
		t.Errorf("no warning that overwrite keeps versions; log:\n%s", logs.String())
	}
	f, _ := b.env.File(t, "o.bin", 10)
	first := b.deliver(t, f)
	f, _ = b.env.File(t, "o.bin", 20)
	f.Previous = &first.Remote
	if res := b.deliver(t, f); res.Remote.ID != first.Remote.ID || res.Remote.Version != "2" {
		t.Fatalf("overwrite gave %+v, want version 2 of %s", res.Remote, first.Remote.ID)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestSubFoldersAreMirroredAndCreatedOnce(t *testing.T) {
	b := setup(t, "", "")
	for _, rel := range []string{"2026/11/a.txt", "2026/11/b.txt", "2026/c.txt"} {
		f, sum := b.env.File(t, rel, 100)
		b.deliver(t, f)
		if got := b.remote(t, rel); got.Latest().SHA256 != sum {
			t.Fatalf("%s: sha %s, want %s", rel, got.Latest().SHA256, sum)
		}
	}
	if n := b.fake.Count(oracledocs.OpCreateFolder); n != 2 {
		t.Errorf("%d Create Folder requests, want 2 (2026, 2026/11)", n)
	}

	// Many files in a new folder at once: each folder is still created once.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		f, _ := b.env.File(t, fmt.Sprintf("batch/x/f%d.txt", i), 50)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := b.env.Deliver(context.Background(), f, nil); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := b.fake.Count(oracledocs.OpCreateFolder); n != 4 {
		t.Errorf("%d Create Folder requests after the batch, want 4", n)
	}
	for i := range 8 {
		b.remote(t, fmt.Sprintf("batch/x/f%d.txt", i))
	}
}

func TestExistingFolderIsReused(t *testing.T) {
	b := setup(t, "", "")
	id := b.fake.AddFolder(oracledocs.FakeFolderID, "Scans")
	f, _ := b.env.File(t, "scans/p1.png", 100)
	b.deliver(t, f)
	got := b.remote(t, "Scans/p1.png")
	if got.ParentID != id {
		t.Errorf("file went to %s, want the existing folder %s", got.ParentID, id)
	}
	if n := b.fake.Count(oracledocs.OpCreateFolder); n != 0 {
		t.Errorf("%d Create Folder requests, want 0", n)
	}
}

func TestFolderCreatedMeanwhileIsLookedUp(t *testing.T) {
	b := setup(t, "", "")
	var theirs string
	b.fake.OnCreateFolder(func(parent, name string) {
		b.fake.OnCreateFolder(nil)
		theirs = b.fake.AddFolder(parent, name)
	})
	f, _ := b.env.File(t, "race/a.txt", 100)
	b.deliver(t, f)
	if got := b.remote(t, "race/a.txt"); got.ParentID != theirs {
		t.Errorf("file went to %s, want the folder created meanwhile %s", got.ParentID, theirs)
	}
	var statuses []int
	for _, r := range b.fake.Requests() {
		if r.Op == oracledocs.OpCreateFolder {
			statuses = append(statuses, r.Status)
		}
	}
	if !slices.Equal(statuses, []int{409}) {
		t.Errorf("Create Folder statuses = %v, want [409]", statuses)
	}
}

func TestVanishedFolderIsCreatedAgain(t *testing.T) {
	b := setup(t, "", "")
	f, _ := b.env.File(t, "sub/deeper/a.txt", 100)
	b.deliver(t, f)
	top, _ := b.fake.FolderAt(oracledocs.FakeFolderID, "sub")
	b.fake.RemoveFolder(top)

	f, sum := b.env.File(t, "sub/deeper/b.txt", 100)
	b.deliver(t, f)
	if got := b.remote(t, "sub/deeper/b.txt"); got.Latest().SHA256 != sum {
		t.Fatalf("b.txt sha %s, want %s", got.Latest().SHA256, sum)
	}
}

func TestRecordedFileGoneIsUploadedAnew(t *testing.T) {
	b := setup(t, "", "")
	f, _ := b.env.File(t, "a.txt", 100)
	first := b.deliver(t, f)
	if err := b.env.Target.(targets.Deleter).Delete(context.Background(), f, first.Remote); err != nil {
		t.Fatal(err)
	}
	f, sum := b.env.File(t, "a.txt", 200)
	f.Previous = &first.Remote
	res := b.deliver(t, f)
	if res.Remote.ID == first.Remote.ID || res.Remote.Version != "1" {
		t.Fatalf("remote = %+v, want a new file", res.Remote)
	}
	if got := b.remote(t, "a.txt"); got.ID != res.Remote.ID || got.Latest().SHA256 != sum {
		t.Fatalf("server holds %+v", got)
	}
}

func TestDeletePropagateMovesToTrash(t *testing.T) {
	b := setup(t, "", "deletes: propagate")
	f, _ := b.env.File(t, "gone.txt", 10)
	res := b.deliver(t, f)
	del := b.env.Target.(targets.Deleter)
	if err := del.Delete(context.Background(), f, res.Remote); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.fake.File(res.Remote.ID); !got.Trashed {
		t.Fatalf("file not in the trash: %+v", got)
	}
	if err := del.Delete(context.Background(), f, res.Remote); err != nil {
		t.Errorf("deleting a file already gone: %v, want nil", err)
	}
}

func TestWrongPasswordFailsAtOnceWithOraclesMessage(t *testing.T) {
	fake := oracledocs.NewFake()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	env := targettest.Build(t, "type: oracle-documents\nurl: "+srv.URL+"\nauth: {type: basic, username: demo, password: wrong-secret}",
		"destination: {folder_id: "+oracledocs.FakeFolderID+"}")
	f, _ := env.File(t, "a.txt", 10)
	_, err := env.Deliver(context.Background(), f, nil)
	if k, _ := targets.Classify(err); k != targets.Auth {
		t.Fatalf("kind %v (%v), want auth", k, err)
	}
	if !strings.Contains(err.Error(), "user name or password is not valid") {
		t.Errorf("error %q lacks Oracle's message", err)
	}
	if strings.Contains(err.Error(), "wrong-secret") {
		t.Errorf("error %q shows the password", err)
	}
	if n := len(fake.Requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestBearerToken(t *testing.T) {
	fake := oracledocs.NewFake()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	env := targettest.Build(t, "type: oracle-documents\nurl: "+srv.URL+"\nauth: {type: bearer, token: "+oracledocs.FakeToken+"}",
		"destination: {folder_id: "+oracledocs.FakeFolderID+"}")
	f, _ := env.File(t, "a.txt", 10)
	if _, err := env.Deliver(context.Background(), f, nil); err != nil {
		t.Fatal(err)
	}
	if r := fake.Requests()[0]; r.Auth != "bearer" {
		t.Errorf("auth = %q, want bearer", r.Auth)
	}
}

func TestOAuth2TokenCachedAndRefreshedOnce(t *testing.T) {
	fake := oracledocs.NewFake()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	auth := fmt.Sprintf("auth: {type: oauth2, token_url: %s%s, client_id: %s, client_secret: %s, scope: %q}",
		srv.URL, oracledocs.FakeTokenPath, oracledocs.FakeClientID, oracledocs.FakeClientSecret, oracledocs.FakeScope)
	env := targettest.Build(t, "type: oracle-documents\nurl: "+srv.URL+"\n"+auth, "destination: {folder_id: "+oracledocs.FakeFolderID+"}")
	for i := range 3 {
		f, _ := env.File(t, fmt.Sprintf("f%d.txt", i), 10)
		if _, err := env.Deliver(context.Background(), f, nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := fake.TokenRequests(); n != 1 {
		t.Fatalf("%d tokens fetched for 3 uploads, want 1", n)
	}
	fake.ExpireTokens()
	f, sum := env.File(t, "after-expiry.txt", 10)
	if _, err := env.Deliver(context.Background(), f, nil); err != nil {
		t.Fatal(err)
	}
	if n := fake.TokenRequests(); n != 2 {
		t.Errorf("%d tokens fetched after expiry, want 2", n)
	}
	if got, ok := fake.Find(oracledocs.FakeFolderID, "after-expiry.txt"); !ok || got.Latest().SHA256 != sum {
		t.Errorf("upload after refresh: %+v", got)
	}

	bad := targettest.Build(t, "type: oracle-documents\nurl: "+srv.URL+"\n"+strings.Replace(auth, "urn:opc:cec:all", "urn:other", 1),
		"destination: {folder_id: "+oracledocs.FakeFolderID+"}")
	f, _ = bad.File(t, "x.txt", 10)
	_, err := bad.Deliver(context.Background(), f, nil)
	// The target's configuration, not the file: the target waits (auth)
	// for a corrected scope instead of failing every file.
	if k, _ := targets.Classify(err); k != targets.Auth || !strings.Contains(err.Error(), "invalid_scope") {
		t.Errorf("bad scope: %v (kind %v), want auth invalid_scope", err, k)
	}
	if strings.Contains(err.Error(), oracledocs.FakeClientSecret) {
		t.Errorf("error %q shows the client secret", err)
	}
}

func TestErrorsAreClassifiedWithOraclesWords(t *testing.T) {
	cases := []struct {
		fl        oracledocs.Failure
		kind      targets.Kind
		msg       string
		retryWait time.Duration
	}{
		{oracledocs.Failure{Status: 404, ErrorCode: "-16", Message: "Folder F1 was not found."}, targets.Permanent, "folder or file not found: Folder F1 was not found.", 0},
		{oracledocs.Failure{Status: 403, ErrorCode: "-20", Message: "User 'u' has insufficient privilege."}, targets.Permanent, "insufficient privileges: User 'u' has insufficient privilege.", 0},
		{oracledocs.Failure{Status: 403, ErrorCode: "-18", Message: "The access code must be provided."}, targets.Permanent, "access code required: The access code must be provided.", 0},
		{oracledocs.Failure{Status: 400, ErrorCode: "-26", Message: "The link has expired."}, targets.Permanent, "link invalid or expired: The link has expired.", 0},
		{oracledocs.Failure{Status: 500, ErrorCode: "-1", Message: "Internal failure."}, targets.Retryable, "Internal failure.", 0},
		{oracledocs.Failure{Status: 503}, targets.Retryable, "Service Unavailable", 0},
		{oracledocs.Failure{Status: 503, RetryAfter: "7"}, targets.Throttled, "Service Unavailable", 7 * time.Second},
		{oracledocs.Failure{Status: 429, ErrorCode: "-1", Message: "Too many requests."}, targets.Throttled, "Too many requests.", 0},
		{oracledocs.Failure{Status: 400, ErrorCode: "-1", Message: "Bad parameter."}, targets.Permanent, "Bad parameter.", 0},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%d%s", c.fl.Status, c.fl.ErrorCode), func(t *testing.T) {
			b := setup(t, "", "")
			b.fake.FailNext(1, oracledocs.OpUpload, c.fl)
			f, _ := b.env.File(t, "a.txt", 10)
			_, err := b.env.Deliver(context.Background(), f, nil)
			kind, wait := targets.Classify(err)
			if kind != c.kind || wait != c.retryWait {
				t.Errorf("kind %v wait %v (%v), want %v %v", kind, wait, err, c.kind, c.retryWait)
			}
			if err == nil || !strings.Contains(err.Error(), "oracle-documents: upload file: "+c.msg) {
				t.Errorf("error %q, want it to say %q", err, c.msg)
			}
			var te *targets.Error
			if !errors.As(err, &te) || te.Status != c.fl.Status {
				t.Errorf("status not kept: %#v", err)
			}
		})
	}
}

func TestConflictIsRecheckedAndRetriedOnce(t *testing.T) {
	b := setup(t, "", "")
	b.fake.FailNext(1, oracledocs.OpUpload, oracledocs.Failure{Status: 409, ErrorCode: "-17", Message: "Duplicate."})
	f, sum := b.env.File(t, "a.txt", 10)
	b.deliver(t, f)
	if got := b.remote(t, "a.txt"); got.Latest().SHA256 != sum {
		t.Fatalf("server holds %+v", got)
	}
	if n := b.fake.Count(oracledocs.OpUpload); n != 2 {
		t.Errorf("%d uploads, want 2", n)
	}

	b.fake.FailNext(2, oracledocs.OpUpload, oracledocs.Failure{Status: 409, ErrorCode: "-17", Message: "Still a duplicate."})
	f, _ = b.env.File(t, "b.txt", 10)
	_, err := b.env.Deliver(context.Background(), f, nil)
	if k, _ := targets.Classify(err); k != targets.Permanent || !strings.Contains(err.Error(), "Still a duplicate.") {
		t.Errorf("second conflict: %v (kind %v), want permanent with Oracle's words", err, k)
	}
	if n := b.fake.Count(oracledocs.OpUpload); n != 4 {
		t.Errorf("%d uploads, want 4 (one retry each)", n)
	}
}

func TestConflictUnderRenameTakesTheNextName(t *testing.T) {
	b := setup(t, "", "on_conflict: rename")
	f, sum := b.env.File(t, "a.txt", 10)
	p, err := b.env.Target.Prepare(context.Background(), f)
	if err != nil || p.Name != "a.txt" {
		t.Fatalf("plan %+v, %v", p, err)
	}
	// Someone takes the name between Prepare and Put.
	b.fake.AddFile(oracledocs.FakeFolderID, "a.txt", []byte("theirs"))
	b.fake.FailNext(1, oracledocs.OpUpload, oracledocs.Failure{Status: 409, ErrorCode: "-17", Message: "Duplicate."})
	fh, err := os.Open(f.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	r, err := b.env.Target.Put(context.Background(), f, p, targets.NewBodyForTest(fh, f.Size))
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "a(2).txt" || b.remote(t, "a(2).txt").Latest().SHA256 != sum {
		t.Fatalf("remote %+v, want a(2).txt with our content", r)
	}
}

func TestConnectionResetIsRetryable(t *testing.T) {
	b := setup(t, "", "")
	b.fake.ResetNext(1, oracledocs.OpUpload)
	f, sum := b.env.File(t, "big.bin", 1<<20)
	_, err := b.env.Deliver(context.Background(), f, nil)
	if k, _ := targets.Classify(err); err == nil || k != targets.Retryable {
		t.Fatalf("reset: %v (kind %v), want retryable", err, k)
	}
	b.deliver(t, f)
	if got := b.remote(t, "big.bin"); len(got.Versions) != 1 || got.Latest().SHA256 != sum {
		t.Fatalf("server holds %+v", got)
	}
}

func TestMetadataValuesAreSent(t *testing.T) {
	b := setup(t, "", `destination: {folder_id: `+oracledocs.FakeFolderID+`, metadata: {collection: Invoices, vendor: ACME, amount: 12}}`)
	f, _ := b.env.File(t, "m.pdf", 10)
	first := b.deliver(t, f)
	f.Previous = &first.Remote
	b.deliver(t, f)

	want := map[string]string{"collection": "Invoices", "vendor": "ACME", "amount": "12"}
	for _, v := range b.remote(t, "m.pdf").Versions {
		if fmt.Sprint(v.Metadata) != fmt.Sprint(want) {
			t.Errorf("version %d metadata %v, want %v", v.Number, v.Metadata, want)
		}
	}
	if p := b.parts(oracledocs.OpUpload); !slices.Equal(p[0], []string{"jsonInputParameters", "primaryFile", "metadataValues"}) {
		t.Errorf("upload parts %v", p[0])
	}
	if p := b.parts(oracledocs.OpUploadVersion); !slices.Equal(p[0], []string{"primaryFile", "metadataValues"}) {
		t.Errorf("version parts %v", p[0])
	}
}

func TestPublicLinkWithAccessCode(t *testing.T) {
	fake := oracledocs.NewFake()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	fake.Restrict(oracledocs.FakeFolderID)
	link := fake.AddPublicLink(oracledocs.FakeFolderID, "code-12345")
	target := fake.Setup(srv.URL).Target

	dir := t.TempDir()
	codeFile := filepath.Join(dir, "code")
	if err := os.WriteFile(codeFile, []byte("code-12345\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := targettest.Build(t, target, fmt.Sprintf("destination: {folder_id: %s, link_id: %s, access_code_file: %s}", oracledocs.FakeFolderID, link, codeFile))
	f, sum := env.File(t, "sub/a.txt", 10)
	if _, err := env.Deliver(context.Background(), f, nil); err != nil {
		t.Fatal(err)
	}
	if got, ok := fake.Find(oracledocs.FakeFolderID, "sub/a.txt"); !ok || got.Latest().SHA256 != sum {
		t.Fatalf("server holds %+v", got)
	}
	for _, r := range fake.Requests() {
		if r.LinkID != link {
			t.Errorf("%s %s without LinkID", r.Method, r.Path)
		}
	}

	noLink := targettest.Build(t, target, "destination: {folder_id: "+oracledocs.FakeFolderID+"}")
	f, _ = noLink.File(t, "b.txt", 10)
	_, err := noLink.Deliver(context.Background(), f, nil)
	if k, _ := targets.Classify(err); k != targets.Permanent || !strings.Contains(err.Error(), "insufficient privileges") {
		t.Errorf("without link: %v (kind %v)", err, k)
	}

	wrong := targettest.Build(t, target, fmt.Sprintf("destination: {folder_id: %s, link_id: %s, access_code: not-the-code}", oracledocs.FakeFolderID, link))
	f, _ = wrong.File(t, "c.txt", 10)
	_, err = wrong.Deliver(context.Background(), f, nil)
	if k, _ := targets.Classify(err); k != targets.Permanent || !strings.Contains(err.Error(), "access code required") {
		t.Errorf("wrong code: %v (kind %v)", err, k)
	}
	if strings.Contains(err.Error(), "not-the-code") {
		t.Errorf("error %q shows the access code", err)
	}
}

func TestAppLink(t *testing.T) {
	fake := oracledocs.NewFake()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	fake.Restrict(oracledocs.FakeFolderID)
	id, tok := fake.AddAppLink(oracledocs.FakeFolderID)
	target := fake.Setup(srv.URL).Target
	env := targettest.Build(t, target, fmt.Sprintf("destination: {folder_id: %s, app_link_id: %s, access_token: %s}", oracledocs.FakeFolderID, id, tok))
	f, _ := env.File(t, "a.txt", 10)
	if _, err := env.Deliver(context.Background(), f, nil); err != nil {
		t.Fatal(err)
	}

	bad := targettest.Build(t, target, fmt.Sprintf("destination: {folder_id: %s, app_link_id: %s, access_token: forged-token}", oracledocs.FakeFolderID, id))
	f, _ = bad.File(t, "b.txt", 10)
	_, err := bad.Deliver(context.Background(), f, nil)
	if k, _ := targets.Classify(err); k != targets.Permanent || !strings.Contains(err.Error(), "link invalid or expired") {
		t.Errorf("forged token: %v (kind %v)", err, k)
	}
	if strings.Contains(err.Error(), "forged-token") {
		t.Errorf("error %q shows the access token", err)
	}
}

func TestAPIVersion11(t *testing.T) {
	b := setup(t, "api_version: 1.1\n", "")
	f, _ := b.env.File(t, "d/a.txt", 10)
	first := b.deliver(t, f)
	f.Previous = &first.Remote
	b.deliver(t, f)
	for _, r := range b.fake.Requests() {
		if r.APIVersion != "1.1" || !strings.HasPrefix(r.Path, "/documents/api/1.1/") {
			t.Errorf("%s %s uses api %q, want 1.1", r.Method, r.Path, r.APIVersion)
		}
	}
}

func TestConfigurationErrors(t *testing.T) {
	const url = "http://127.0.0.1:1"
	basic := "type: oracle-documents\nurl: " + url + "\nauth: {type: basic, username: u, password: p}\n"
	dest := "destination: {folder_id: F1}"
	cases := []struct{ target, watch, want string }{
		{basic + "api_version: 1.3\n", dest, `targets.t.api_version: "1.3" is not supported (use 1.2 or 1.1)`},
		{basic + "apiversion: 1.2\n", dest, `unknown key "apiversion"`},
		{strings.Replace(basic, url, url+"/documents/api/1.2", 1), dest, "targets.t.url: give the service root"},
		{"type: oracle-documents\nurl: " + url + "\nauth: {type: apikey, key: k}\n", dest, `targets.t.auth.type: "apikey" is not supported here (use basic or bearer or oauth2)`},
		{"type: oracle-documents\nurl: " + url + "\nauth: {type: oauth2, token_url: https://idcs/oauth2/v1/token, client_id: c, client_secret: s}\n", dest, "targets.t.auth.scope: required for oauth2"},
		{basic, "destination: {}", "watches[0].destination.folder_id: required"},
		{basic, "destination: {folder_id: F1, path: /x}", `unknown key "path"`},
		{basic, "destination: {folder_id: F1, access_code: c}", "watches[0].destination.access_code: needs destination.link_id"},
		{basic, "destination: {folder_id: F1, app_link_id: A1}", "watches[0].destination.app_link_id: an applink needs both"},
		{basic, "destination: {folder_id: F1, metadata: {field: v}}", "watches[0].destination.metadata: needs a collection key"},
		{basic, "destination: {folder_id: F1, access_token: t, access_token_file: /nonexistent, app_link_id: A}", "access_token_file: give either"},
	}
	for _, c := range cases {
		_, err := targettest.TryBuild(t, c.target, c.watch)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("target %q watch %q: error %v, want %q", c.target, c.watch, err, c.want)
		}
	}
	for _, oc := range []string{"version", "overwrite", "rename", "skip"} {
		if _, err := targettest.TryBuild(t, basic, dest+"\non_conflict: "+oc+"\ndeletes: propagate"); err != nil {
			t.Errorf("on_conflict %s: %v", oc, err)
		}
	}
}

func TestCheckCredentials(t *testing.T) {
	b := setup(t, "", "")
	if err := b.env.Target.(targets.Checker).Check(context.Background()); err != nil {
		t.Fatalf("good credentials: %v", err)
	}
	env := targettest.Build(t, "type: oracle-documents\nurl: "+b.srv.URL+"\nauth: {type: bearer, token: stale}", "destination: {folder_id: self}")
	err := env.Target.(targets.Checker).Check(context.Background())
	if k, _ := targets.Classify(err); k != targets.Auth || !strings.Contains(err.Error(), "access token is not valid") {
		t.Errorf("bad token: %v (kind %v), want auth with Oracle's message", err, k)
	}
}

func TestRegisteredWithItsFake(t *testing.T) {
	if !slices.Contains(targets.Types(), oracledocs.Type) || !slices.Contains(targets.FakeTypes(), oracledocs.Type) {
		t.Fatalf("%s not registered: types %v, fakes %v", oracledocs.Type, targets.Types(), targets.FakeTypes())
	}
	fake, err := targets.NewFake(oracledocs.Type)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	s := fake.Setup(srv.URL)
	env := targettest.Build(t, s.Target, "destination: "+s.Destination)
	f, _ := env.File(t, "demo/hello.txt", 12)
	if _, err := env.Deliver(context.Background(), f, nil); err != nil {
		t.Fatalf("the Setup configuration does not deliver: %v", err)
	}
}

func TestRecordedFileAndItsFolderGone(t *testing.T) {
	b := setup(t, "", "")
	f, _ := b.env.File(t, "d/a.txt", 100)
	first := b.deliver(t, f)
	dir, _ := b.fake.FolderAt(oracledocs.FakeFolderID, "d")
	b.fake.RemoveFolder(dir)

	f, sum := b.env.File(t, "d/a.txt", 200)
	f.Previous = &first.Remote
	res := b.deliver(t, f)
	if got := b.remote(t, "d/a.txt"); got.ID != res.Remote.ID || got.Latest().SHA256 != sum || res.Remote.Version != "1" {
		t.Fatalf("server holds %+v, result %+v", got, res.Remote)
	}
}
