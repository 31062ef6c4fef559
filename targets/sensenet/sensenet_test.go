package sensenet_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dropsync/dropsync/targets"
	"github.com/dropsync/dropsync/targets/sensenet"
	"github.com/dropsync/dropsync/targets/targettest"
)

const docs = sensenet.DocumentsPath

// bundle is a fake served on loopback and a target built against it.
type bundle struct {
	fake *sensenet.Fake
	srv  *httptest.Server
	env  *targettest.Env
}

// setup serves a fresh fake and builds a target with 256 KiB chunks at or
// above 1 MiB; watch holds the watch's keys besides the destination.
func setup(t testing.TB, watch string) *bundle {
	t.Helper()
	b := serve(t)
	b.env = targettest.Build(t, b.target(""), "destination: {path: "+docs+"}\n"+watch)
	return b
}

func serve(t testing.TB) *bundle {
	t.Helper()
	fake := sensenet.NewFake()
	srv := httptest.NewServer(fake)
	t.Cleanup(func() {
		srv.Close()
		fake.Close()
	})
	return &bundle{fake: fake, srv: srv}
}

// target is the YAML of a target for the fake, with auth unless extra
// gives its own, and the version read back unless extra says otherwise.
func (b *bundle) target(extra string) string {
	s := "type: sensenet\nurl: " + b.srv.URL + "\n"
	for _, kv := range []string{"chunk_threshold: 1MiB", "chunk_size: 256KiB", "auth: {type: bearer, token: " + sensenet.DemoToken + "}", "read_version: true"} {
		if !strings.Contains(extra, kv[:strings.IndexByte(kv, ':')+1]) {
			s += kv + "\n"
		}
	}
	return s + extra
}

func (b *bundle) deliver(t testing.TB, f *targets.File, s *targettest.MemSessions) *targets.Result {
	t.Helper()
	res, err := b.env.Deliver(context.Background(), f, s)
	if err != nil {
		t.Fatalf("deliver %s: %v", f.Rel, err)
	}
	return res
}

// content returns the fake's content at path or fails.
func (b *bundle) content(t testing.TB, path string) sensenet.Content {
	t.Helper()
	c, ok := b.fake.Content(path)
	if !ok {
		t.Fatalf("no content at %s", path)
	}
	return c
}

func kindOf(err error) targets.Kind {
	k, _ := targets.Classify(err)
	return k
}

func TestWholeUpload(t *testing.T) {
	b := setup(t, "")
	f, sum := b.env.File(t, "report.pdf", 300<<10)
	res := b.deliver(t, f, nil)
	if res.Chunked || res.SHA256 != sum {
		t.Fatalf("result = %+v, want whole upload with sha %s", res, sum)
	}
	c := b.content(t, docs+"/report.pdf")
	if cur := c.Current(); cur.SHA256 != sum || cur.Size != f.Size || cur.FileName != "report.pdf" {
		t.Fatalf("stored %+v, want sha %s size %d", cur, sum, f.Size)
	}
	want := targets.Remote{ID: fmt.Sprint(c.ID), Name: "report.pdf", Version: "V1.0.A", Extra: map[string]string{"path": docs + "/report.pdf"}}
	if fmt.Sprint(res.Remote) != fmt.Sprint(want) {
		t.Fatalf("remote = %+v, want %+v", res.Remote, want)
	}
	if n := b.fake.Requests(sensenet.OpWhole); n != 1 {
		t.Fatalf("%d whole upload requests, want 1", n)
	}
	if n := b.fake.Requests(sensenet.OpCreate) + b.fake.Requests(sensenet.OpChunk); n != 0 {
		t.Fatalf("%d create/chunk requests for a small file, want 0", n)
	}
}

func TestEmptyFile(t *testing.T) {
	b := setup(t, "")
	f, sum := b.env.File(t, "empty.txt", 0)
	res := b.deliver(t, f, nil)
	if c := b.content(t, docs+"/empty.txt"); c.Current().SHA256 != sum || c.Current().Size != 0 || res.SHA256 != sum {
		t.Fatalf("stored %+v, result %+v; want the empty file", c.Current(), res)
	}
}

func TestChunkedUpload(t *testing.T) {
	for _, size := range []int64{1<<20 + 12345, 1 << 20} { // a partial last chunk, and an exact multiple
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			b := setup(t, "")
			f, sum := b.env.File(t, "big.bin", size)
			res := b.deliver(t, f, &targettest.MemSessions{})
			if !res.Chunked || res.SHA256 != sum {
				t.Fatalf("result = %+v, want chunked with sha %s", res, sum)
			}
			c := b.content(t, docs+"/big.bin")
			if cur := c.Current(); cur.SHA256 != sum || cur.Size != size || cur.FileName != "big.bin" || c.Locked {
				t.Fatalf("stored %+v locked=%v, want sha %s size %d, checked in", cur, c.Locked, sum, size)
			}
			if res.Remote.ID != fmt.Sprint(c.ID) || res.Remote.Version != "V1.0.A" {
				t.Fatalf("remote = %+v, want id %d version V1.0.A", res.Remote, c.ID)
			}
			chunks := b.fake.ChunkRequests(docs + "/big.bin")
			want := int((size + 256<<10 - 1) / (256 << 10))
			if len(chunks) != want {
				t.Fatalf("chunks at %d offsets %v, want %d (no empty trailing chunk)", len(chunks), chunks, want)
			}
			for off, n := range chunks {
				if n != 1 || off%(256<<10) != 0 {
					t.Fatalf("chunk at %d sent %d times", off, n)
				}
			}
			if b.fake.Requests(sensenet.OpCreate) != 1 || b.fake.OpenSessions() != 0 {
				t.Fatalf("create requests %d, open sessions %d; want 1 and 0", b.fake.Requests(sensenet.OpCreate), b.fake.OpenSessions())
			}
		})
	}
}

func TestNamesAndFolders(t *testing.T) {
	b := setup(t, "")
	// local path → the server's path below the destination (FACTS.md §5.6)
	names := [][2]string{
		{"with space.txt", "with space.txt"},
		{"ünïcödé ☃.txt", "ünïcödé ☃.txt"},
		{"it's \"quoted\".txt", "it-s -quoted-.txt"},
		{"a+b=c&d%20e#f.txt", "a-b-c-d-20e-f.txt"},
		{"paren(1).txt", "paren(1).txt"},
		{"deep/er/still/deeper/file.txt", "deep/er/still/deeper/file.txt"},
		{"sub dir/ü/日本/x y.bin", "sub dir/ü/日本/x y.bin"},
		{"it's/o'neil/chunked 'big'.bin", "it-s/o-neil/chunked -big-.bin"},
	}
	for _, n := range names {
		rel, server := n[0], n[1]
		size := int64(10 << 10)
		if strings.HasSuffix(rel, ".bin") {
			size = 1<<20 + 777
		}
		f, sum := b.env.File(t, rel, size)
		res := b.deliver(t, f, &targettest.MemSessions{})
		path := docs + "/" + server
		c := b.content(t, path)
		if c.Current().SHA256 != sum || c.Name != path[strings.LastIndexByte(path, '/')+1:] || c.Current().FileName != f.Name() {
			t.Errorf("%s: stored %+v as %q, want sha %s", rel, c.Current(), c.Name, sum)
		}
		if res.Remote.Name != c.Name || res.Remote.Extra["path"] != path {
			t.Errorf("%s: remote %+v", rel, res.Remote)
		}
	}
	for _, folder := range []string{docs + "/deep/er/still/deeper", docs + "/sub dir/ü/日本", docs + "/it-s/o-neil"} {
		if c := b.content(t, folder); c.Type != "Folder" {
			t.Errorf("%s is a %s, want Folder", folder, c.Type)
		}
	}
}

func TestUploadToRoot(t *testing.T) {
	b := serve(t)
	b.env = targettest.Build(t, b.target(""), "destination: {path: /Root}")
	f, sum := b.env.File(t, "top/level.txt", 10)
	res := b.deliver(t, f, nil)
	if c := b.content(t, "/Root/top/level.txt"); c.Current().SHA256 != sum || res.Remote.Version != "V1.0.A" {
		t.Fatalf("stored %+v, remote %+v", c.Current(), res.Remote)
	}
}

func TestModifiedFileBecomesNewVersion(t *testing.T) {
	for _, size := range []int64{50 << 10, 1<<20 + 1} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			b := setup(t, "on_conflict: version")
			f, sum1 := b.env.File(t, "a/doc.txt", size)
			r1 := b.deliver(t, f, &targettest.MemSessions{})
			f, sum2 := b.env.File(t, "a/doc.txt", size+100)
			f.Previous = &r1.Remote
			r2 := b.deliver(t, f, &targettest.MemSessions{})
			if r2.Remote.ID != r1.Remote.ID || r1.Remote.Version != "V1.0.A" || r2.Remote.Version != "V2.0.A" {
				t.Fatalf("remotes %+v then %+v, want the same id, V1.0.A then V2.0.A", r1.Remote, r2.Remote)
			}
			c := b.content(t, docs+"/a/doc.txt")
			if len(c.Versions) != 2 || c.Versions[0].SHA256 != sum1 || c.Versions[1].SHA256 != sum2 {
				t.Fatalf("versions %+v, want %s then %s", c.Versions, sum1, sum2)
			}
		})
	}
}

func TestOverwriteInPlaceUnderVersioningNone(t *testing.T) {
	b := setup(t, "on_conflict: overwrite")
	if err := b.fake.SetVersioning(docs, sensenet.VersioningNone); err != nil {
		t.Fatal(err)
	}
	f, _ := b.env.File(t, "x.txt", 1000)
	r1 := b.deliver(t, f, nil)
	f, sum2 := b.env.File(t, "x.txt", 2000)
	r2 := b.deliver(t, f, nil)
	c := b.content(t, docs+"/x.txt")
	if r1.Remote.ID != r2.Remote.ID || len(c.Versions) != 1 || c.Current().SHA256 != sum2 || r2.Remote.Version != "V1.0.A" {
		t.Fatalf("remotes %+v, %+v; versions %+v: want one version replaced in place", r1.Remote, r2.Remote, c.Versions)
	}
}

func TestRename(t *testing.T) {
	b := setup(t, "on_conflict: rename")
	var got []string
	for i, size := range []int64{100, 200, 1<<20 + 5} {
		f, sum := b.env.File(t, "dup/report.pdf", size)
		res := b.deliver(t, f, &targettest.MemSessions{})
		got = append(got, res.Remote.Name)
		if c := b.content(t, docs+"/dup/"+res.Remote.Name); c.Current().SHA256 != sum || len(c.Versions) != 1 {
			t.Fatalf("upload %d: %s holds %+v, want sha %s", i, res.Remote.Name, c.Versions, sum)
		}
	}
	if want := "report.pdf report(1).pdf report(2).pdf"; strings.Join(got, " ") != want {
		t.Fatalf("names %q, want %q", got, want)
	}
}

func TestSkip(t *testing.T) {
	b := setup(t, "on_conflict: skip")
	f, sum := b.env.File(t, "keep.txt", 100)
	r1 := b.deliver(t, f, nil)
	if r1.Skipped || b.content(t, docs+"/keep.txt").Current().SHA256 != sum {
		t.Fatalf("first delivery %+v, want an upload", r1)
	}
	f, _ = b.env.File(t, "keep.txt", 5<<20)
	r2 := b.deliver(t, f, &targettest.MemSessions{})
	c := b.content(t, docs+"/keep.txt")
	if !r2.Skipped || r2.Remote.ID != r1.Remote.ID || r2.Remote.Version != "V1.0.A" || len(c.Versions) != 1 || c.Current().SHA256 != sum {
		t.Fatalf("second delivery %+v, versions %+v: want skipped, remote untouched", r2, c.Versions)
	}
	if n := b.fake.Requests(sensenet.OpWhole) + b.fake.Requests(sensenet.OpCreate); n != 1 {
		t.Fatalf("%d upload requests, want 1", n)
	}
}

func TestResumeAfterFailedChunk(t *testing.T) {
	for _, lost := range []bool{false, true} {
		t.Run(fmt.Sprintf("answer_lost=%v", lost), func(t *testing.T) {
			b := setup(t, "")
			f, sum := b.env.File(t, "big.bin", 10*256<<10+99) // 11 chunks
			// The fourth chunk fails: refused with 503, or stored but its
			// answer lost to a connection reset.
			b.fake.Inject(1, sensenet.Fault{Op: sensenet.OpChunk, Skip: 3, Status: 503, Reset: lost, AfterProcessing: lost})
			s := &targettest.MemSessions{}
			_, err := b.env.Deliver(context.Background(), f, s)
			if err == nil || kindOf(err) != targets.Retryable {
				t.Fatalf("first delivery: %v, want a retryable failure", err)
			}
			if sess, _ := s.Load(context.Background()); sess == nil || sess.Offset != 3*256<<10 {
				t.Fatalf("session after failure = %+v, want offset %d", sess, 3*256<<10)
			}
			res := b.deliver(t, f, s)
			if !res.Resumed || res.SHA256 != sum {
				t.Fatalf("second delivery %+v, want resumed with sha %s", res, sum)
			}
			if c := b.content(t, docs+"/big.bin"); c.Current().SHA256 != sum || len(c.Versions) != 1 {
				t.Fatalf("stored %+v, want one version with sha %s", c.Versions, sum)
			}
			twice := 0
			for off, n := range b.fake.ChunkRequests(docs + "/big.bin") {
				if n > 2 || (n == 2 && off != 3*256<<10) {
					t.Fatalf("chunk at %d stored %d times", off, n)
				}
				if n == 2 {
					twice++
				}
			}
			if want := map[bool]int{false: 0, true: 1}[lost]; twice != want || b.fake.Requests(sensenet.OpCreate) != 1 {
				t.Fatalf("%d chunks stored twice, %d sessions; want %d and 1", twice, b.fake.Requests(sensenet.OpCreate), want)
			}
		})
	}
}

func TestInvalidTokenStartsNewSession(t *testing.T) {
	b := setup(t, "")
	f, sum := b.env.File(t, "big.bin", 2<<20)
	b.fake.Inject(1, sensenet.Fault{Op: sensenet.OpChunk, Skip: 2, Status: 500})
	s := &targettest.MemSessions{}
	if _, err := b.env.Deliver(context.Background(), f, s); err == nil {
		t.Fatal("first delivery succeeded, want the injected failure")
	}
	if n := b.fake.ExpireSessions(); n != 1 {
		t.Fatalf("%d sessions expired, want 1", n)
	}
	res := b.deliver(t, f, s)
	if res.SHA256 != sum || b.fake.Requests(sensenet.OpCreate) != 2 {
		t.Fatalf("result %+v after %d sessions, want sha %s after 2", res, b.fake.Requests(sensenet.OpCreate), sum)
	}
	if c := b.content(t, docs+"/big.bin"); c.Current().SHA256 != sum || c.Locked {
		t.Fatalf("stored %+v locked=%v", c.Current(), c.Locked)
	}
}

func TestAbandonedSessionIsFinalized(t *testing.T) {
	b := setup(t, "")
	f, sum := b.env.File(t, "big.bin", 2<<20)
	b.fake.Inject(1, sensenet.Fault{Op: sensenet.OpChunk, Skip: 1, Status: 500})
	if _, err := b.env.Deliver(context.Background(), f, &targettest.MemSessions{}); err == nil {
		t.Fatal("first delivery succeeded, want the injected failure")
	}
	if c := b.content(t, docs+"/big.bin"); !c.Locked {
		t.Fatal("the abandoned upload left the content checked in; the test needs it checked out")
	}
	// A fresh session store: the daemon lost the session (e.g. the file
	// changed); the server still has the content in a multistep save.
	res := b.deliver(t, f, &targettest.MemSessions{})
	c := b.content(t, docs+"/big.bin")
	if c.Locked || len(c.Versions) != 1 || c.Current().SHA256 != sum || res.Remote.Version != "V1.0.A" {
		t.Fatalf("content %+v after delivery %+v: want checked in with one version", c, res.Remote)
	}
	if b.fake.Requests(sensenet.OpAction) != 1 {
		t.Fatalf("%d FinalizeContent requests, want 1", b.fake.Requests(sensenet.OpAction))
	}
}

func TestServerErrors(t *testing.T) {
	cases := []struct {
		name    string
		fault   sensenet.Fault
		kind    targets.Kind
		msg     string
		retryIn time.Duration
	}{
		{"403", sensenet.Fault{Status: 403, Message: "Access denied for the user dropsync."}, targets.Permanent, "Access denied for the user dropsync. [Forbidden] (HTTP 403)", 0},
		{"401", sensenet.Fault{Status: 401, Message: "Token expired."}, targets.Auth, "Token expired. [Unauthorized] (HTTP 401)", 0},
		{"404", sensenet.Fault{Status: 404, Message: "Content not found: /Root/X"}, targets.Permanent, "Content not found: /Root/X [ResourceNotFound] (HTTP 404)", 0},
		{"500", sensenet.Fault{Status: 500, Message: "The content is locked by someone else."}, targets.Retryable, "The content is locked by someone else. (HTTP 500)", 0},
		{"503", sensenet.Fault{Status: 503, RetryAfter: 7}, targets.Throttled, "Service Unavailable (HTTP 503)", 7 * time.Second},
		{"429", sensenet.Fault{Status: 429, RetryAfter: 3}, targets.Throttled, "Too Many Requests (HTTP 429)", 3 * time.Second},
		{"reset", sensenet.Fault{Reset: true}, targets.Retryable, "sensenet: upload", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := setup(t, "")
			f, _ := b.env.File(t, "x.txt", 1000)
			tc.fault.Op = sensenet.OpWhole
			b.fake.Inject(1, tc.fault)
			_, err := b.env.Deliver(context.Background(), f, nil)
			kind, wait := targets.Classify(err)
			if err == nil || kind != tc.kind || wait != tc.retryIn || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %v (%v, wait %v), want %v containing %q, wait %v", err, kind, wait, tc.kind, tc.msg, tc.retryIn)
			}
			if strings.Contains(err.Error(), sensenet.DemoToken) {
				t.Fatalf("error %q reveals the token", err)
			}
			b.deliver(t, f, nil) // the fault is spent: the next attempt works
		})
	}
}

func TestMissingParent(t *testing.T) {
	b := serve(t)
	b.env = targettest.Build(t, b.target(""), "destination: {path: /Root/Content/Nope}")
	f, _ := b.env.File(t, "x.txt", 10)
	_, err := b.env.Deliver(context.Background(), f, nil)
	if kindOf(err) != targets.Permanent || !strings.Contains(err.Error(), "parent folder not found: /Root/Content/Nope (HTTP 404)") {
		t.Fatalf("error %v, want a permanent parent folder not found", err)
	}
	f, _ = b.env.File(t, "sub/x.txt", 10)
	_, err = b.env.Deliver(context.Background(), f, nil)
	if kindOf(err) != targets.Permanent || !strings.Contains(err.Error(), "parent folder not found: /Root/Content/Nope") {
		t.Fatalf("error %v, want a permanent parent folder not found", err)
	}
}

func TestRemovedFolderIsCreatedAgain(t *testing.T) {
	b := setup(t, "")
	f, _ := b.env.File(t, "sub/a.txt", 10)
	b.deliver(t, f, nil)
	if status, _ := raw(t, b, "DELETE", "/OData.svc/Root/Content/Documents('sub')?permanent=true", nil); status/100 != 2 {
		t.Fatalf("delete folder: %d", status)
	}
	f, sum := b.env.File(t, "sub/b.txt", 10)
	_, err := b.env.Deliver(context.Background(), f, nil)
	if kindOf(err) != targets.Retryable || !strings.Contains(err.Error(), "parent folder not found: "+docs+"/sub") {
		t.Fatalf("error %v, want a retryable parent folder not found", err)
	}
	b.deliver(t, f, nil)
	if c := b.content(t, docs+"/sub/b.txt"); c.Current().SHA256 != sum {
		t.Fatalf("stored %+v", c.Current())
	}
}

func TestFolderRemovedDuringChunkedUpload(t *testing.T) {
	b := setup(t, "")
	f, sum := b.env.File(t, "sub/big.bin", 2<<20)
	b.fake.Inject(1, sensenet.Fault{Op: sensenet.OpChunk, Skip: 2, Status: 503})
	s := &targettest.MemSessions{}
	if _, err := b.env.Deliver(context.Background(), f, s); err == nil {
		t.Fatal("first delivery succeeded, want the injected failure")
	}
	status, _ := raw(t, b, "DELETE", "/OData.svc/Root/Content/Documents('sub')?permanent=true", nil)
	if status/100 != 2 {
		t.Fatalf("delete folder: %d", status)
	}
	res := b.deliver(t, f, s) // the session's chunk gets 404: a new session in a new folder
	if c := b.content(t, docs+"/sub/big.bin"); c.Current().SHA256 != sum || res.SHA256 != sum || b.fake.Requests(sensenet.OpCreate) != 2 {
		t.Fatalf("stored %+v after %d sessions", c.Current(), b.fake.Requests(sensenet.OpCreate))
	}
}

func TestConcurrentFolderCreation(t *testing.T) {
	b := setup(t, "")
	var files []*targets.File
	for i := range 16 {
		f, _ := b.env.File(t, fmt.Sprintf("x/y/z/f%d.txt", i), 1000)
		files = append(files, f)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(files))
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
	if got := len(b.fake.Files(docs + "/x/y/z")); got != len(files) {
		t.Fatalf("%d files in x/y/z, want %d", got, len(files))
	}
	if n := b.fake.Requests(sensenet.OpPost); n < 3 || n > 3*len(files) {
		t.Fatalf("%d folder creations, want between 3 and %d", n, 3*len(files))
	}
	// The cache answers for the next file: no more folder checks.
	before := b.fake.Requests(sensenet.OpGet)
	f, _ := b.env.File(t, "x/y/z/late.txt", 10)
	b.deliver(t, f, nil)
	if n := b.fake.Requests(sensenet.OpGet) - before; n != 1 {
		t.Fatalf("%d GETs for a file in a known folder, want 1 (the version read-back)", n)
	}
}

func TestAuth(t *testing.T) {
	t.Run("apikey", func(t *testing.T) {
		b := serve(t)
		b.env = targettest.Build(t, b.target("auth: {type: apikey, key: "+sensenet.DemoAPIKey+"}"), "destination: {path: "+docs+"}")
		f, sum := b.env.File(t, "k.txt", 100)
		b.deliver(t, f, nil)
		if b.content(t, docs+"/k.txt").Current().SHA256 != sum {
			t.Fatal("apikey upload not stored")
		}
	})
	t.Run("wrong token", func(t *testing.T) {
		b := serve(t)
		b.env = targettest.Build(t, b.target("auth: {type: bearer, token: nope}"), "destination: {path: "+docs+"}")
		f, _ := b.env.File(t, "k.txt", 100)
		_, err := b.env.Deliver(context.Background(), f, nil)
		if kindOf(err) != targets.Auth || !strings.Contains(err.Error(), "(HTTP 401)") || strings.Contains(err.Error(), "nope") {
			t.Fatalf("error %v, want an auth failure without the token", err)
		}
	})
	for _, auth := range []string{"{type: basic, username: u, password: p}", "{type: none}"} {
		t.Run(auth, func(t *testing.T) {
			b := serve(t)
			_, err := targettest.TryBuild(t, b.target("auth: "+auth), "destination: {path: "+docs+"}")
			if err == nil || !strings.Contains(err.Error(), "auth.type") || !strings.Contains(err.Error(), "use bearer or apikey") {
				t.Fatalf("error %v, want auth.type naming bearer and apikey", err)
			}
		})
	}
}

func TestConfigValidation(t *testing.T) {
	b := serve(t)
	cases := []struct{ target, watch, want string }{
		{"", "destination: {content_type: File}", "watches[0].destination.path: required"},
		{"", "destination: {path: /Content/Docs}", `watches[0].destination.path: "/Content/Docs" must start with /Root`},
		{"", "destination: {path: Root/Content}", "must start with /Root"},
		{"", "destination: {path: /Root//Content}", "empty, dot or space-padded segment"},
		{"", "destination: {path: /Root/../etc}", "empty, dot or space-padded segment"},
		{"", "destination: {path: /Root/Content, content_type: 'My File'}", "watches[0].destination.content_type"},
		{"", "destination: {path: /Root/Content, folder: x}", `unknown key "folder"`},
		{"site: x", "destination: {path: /Root/Content}", `unknown key "site"`},
		{"chunk_size: 3GiB", "destination: {path: /Root/Content}", "chunk_size: 3.0 GiB is over sensenet's limit"},
	}
	for _, tc := range cases {
		_, err := targettest.TryBuild(t, b.target(tc.target), tc.watch)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s / %s: error %v, want %q", tc.target, tc.watch, err, tc.want)
		}
	}
	env := targettest.Build(t, b.target(""), "destination: {path: /Root/Content/Documents/}\ndeletes: propagate\non_conflict: overwrite")
	if d := env.Dest.(*sensenet.Destination); d.Path != docs || d.ContentType != "File" {
		t.Fatalf("destination %+v, want the path without its slash and content type File", d)
	}
}

func TestDeletePropagation(t *testing.T) {
	b := setup(t, "deletes: propagate")
	del := b.env.Target.(targets.Deleter)
	f, _ := b.env.File(t, "gone/soon.txt", 100)
	res := b.deliver(t, f, nil)
	if err := del.Delete(context.Background(), f, res.Remote); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.fake.Content(docs + "/gone/soon.txt"); ok {
		t.Fatal("content still there after delete")
	}
	if tr := b.fake.Trashed(); len(tr) != 1 || tr[0] != docs+"/gone/soon.txt" {
		t.Fatalf("trash %q, want the file", tr)
	}
	if err := del.Delete(context.Background(), f, res.Remote); err != nil {
		t.Fatalf("deleting again: %v, want success (already gone)", err)
	}
	// A content that is not the one delivered is left alone.
	res2 := b.deliver(t, f, nil)
	old := res.Remote
	if err := del.Delete(context.Background(), f, old); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.fake.Content(docs + "/gone/soon.txt"); !ok || res2.Remote.ID == old.ID {
		t.Fatal("a different content at the same path was deleted")
	}
	// Without a recorded path, the destination and name give it.
	r := res2.Remote
	r.Extra = nil
	if err := del.Delete(context.Background(), f, r); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.fake.Content(docs + "/gone/soon.txt"); ok {
		t.Fatal("content still there after delete by name")
	}
}
