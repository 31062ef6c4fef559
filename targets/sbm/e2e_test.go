package sbm_test

import (
	"context"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/targets/sbm"
)

// Acceptance tests: the real daemon (watcher, SQLite queue, workers)
// delivering to the fake over loopback.

type e2e struct {
	fake *sbm.Fake
	h    *daemontest.Harness
}

func startE2E(t *testing.T, targetExtra, watchExtra string) *e2e {
	t.Helper()
	fake := sbm.NewFake()
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	s := fake.Setup(srv.URL)
	h := daemontest.Start(t, s.Target+targetExtra, "destination: "+s.Destination+"\n"+watchExtra)
	return &e2e{fake: fake, h: h}
}

func (e *e2e) files() []sbm.FileObject { return e.fake.Files(table, item, field) }

func (e *e2e) byName(name string) *sbm.FileObject {
	for _, o := range e.files() {
		if o.Name == name {
			return &o
		}
	}
	return nil
}

func TestE2EVersionUpdatesSameObject(t *testing.T) {
	e := startE2E(t, "", "on_conflict: version")
	sum := e.h.WriteRandom(t, "docs/report.pdf", 70_000)
	st := e.h.WaitDelivered(t, "docs/report.pdf", sum)
	o := e.byName("report.pdf")
	if o == nil || o.SHA256 != sum || st.Remote.ID == "" || st.Remote.Extra["uuid"] != o.UUID {
		t.Fatalf("state %+v, object %+v", st.Remote, o)
	}
	sum2 := e.h.WriteRandom(t, "docs/report.pdf", 80_000)
	st2 := e.h.WaitDelivered(t, "docs/report.pdf", sum2)
	objs := e.files()
	if len(objs) != 1 || objs[0].ID != o.ID || objs[0].SHA256 != sum2 || objs[0].Updates != 1 || st2.Remote.ID != st.Remote.ID {
		t.Fatalf("after the change: objects %+v, state %+v; want object %d updated", objs, st2.Remote, o.ID)
	}
}

func TestE2EOverwriteTakesOverObjectOfSameName(t *testing.T) {
	e := startE2E(t, "", "on_conflict: overwrite")
	theirs, _ := e.fake.AddFile(table, item, field, "plan.xlsx", []byte("their version"))
	sum := e.h.WriteRandom(t, "plan.xlsx", 5000)
	st := e.h.WaitDelivered(t, "plan.xlsx", sum)
	objs := e.files()
	if len(objs) != 1 || objs[0].ID != theirs.ID || objs[0].SHA256 != sum || st.Remote.Extra["uuid"] != theirs.UUID {
		t.Fatalf("objects %+v state %+v, want object %d replaced", objs, st.Remote, theirs.ID)
	}
}

func TestE2ERenameAddsNumberedName(t *testing.T) {
	e := startE2E(t, "", "on_conflict: rename")
	theirs, _ := e.fake.AddFile(table, item, field, "scan.pdf", []byte("theirs"))
	sum := e.h.WriteRandom(t, "scan.pdf", 3000)
	st := e.h.WaitDelivered(t, "scan.pdf", sum)
	if st.Remote.Name != "scan(2).pdf" {
		t.Fatalf("delivered as %q, want scan(2).pdf", st.Remote.Name)
	}
	if o := e.byName("scan.pdf"); o == nil || o.SHA256 != theirs.SHA256 {
		t.Fatal("the existing scan.pdf was changed")
	}
	if o := e.byName("scan(2).pdf"); o == nil || o.SHA256 != sum || o.Filename != "scan(2).pdf" {
		t.Fatalf("scan(2).pdf: %+v", o)
	}
}

func TestE2ESkip(t *testing.T) {
	e := startE2E(t, "", "on_conflict: skip")
	theirs, _ := e.fake.AddFile(table, item, field, "keep.txt", []byte("theirs"))
	e.h.WriteRandom(t, "keep.txt", 100)
	st := e.h.WaitDelivered(t, "keep.txt", "")
	if st.Remote.Extra["uuid"] != theirs.UUID {
		t.Fatalf("state %+v, want the existing object recorded", st.Remote)
	}
	sum := e.h.WriteRandom(t, "new.txt", 100)
	e.h.WaitDelivered(t, "new.txt", sum)
	if o := e.byName("keep.txt"); o.SHA256 != theirs.SHA256 || o.Updates != 0 {
		t.Fatal("skip changed the existing object")
	}
	if o := e.byName("new.txt"); o == nil || o.SHA256 != sum {
		t.Fatal("new.txt not delivered")
	}
	for _, r := range e.fake.Requests() {
		if r.Op == "UpdateFileField" && (len(r.Objects) != 1 || r.Objects[0].Action != "NEW-ONLY" || r.Objects[0].Name != "new.txt") {
			t.Fatalf("skip sent %+v, want only NEW-ONLY of new.txt", r.Objects)
		}
	}
}

func TestE2EDeletePropagation(t *testing.T) {
	e := startE2E(t, "", "deletes: propagate")
	sum := e.h.WriteRandom(t, "old.log", 100)
	st := e.h.WaitDelivered(t, "old.log", sum)
	e.h.Remove(t, "old.log")
	e.h.WaitForgotten(t, "old.log")
	if n := len(e.files()); n != 0 {
		t.Fatalf("%d objects left after the delete", n)
	}
	reqs := e.fake.Requests()
	last := reqs[len(reqs)-1]
	if last.Op != "UpdateFileField" || last.Objects[0].Action != "DELETE" || last.Objects[0].UUID != st.Remote.Extra["uuid"] {
		t.Fatalf("last request %+v, want a DELETE of the recorded object", last)
	}
}

func TestE2ELockedItemRetriedThenDelivered(t *testing.T) {
	e := startE2E(t, "", "")
	e.fake.Lock(table, item, "jsmith")
	sum := e.h.WriteRandom(t, "locked.docx", 2000)
	refused := func() int {
		n := 0
		for _, r := range e.fake.Requests() {
			if strings.Contains(r.Msg, "locked by user jsmith") {
				n++
			}
		}
		return n
	}
	daemontest.Eventually(t, "two refused attempts", func() bool { return refused() >= 2 })
	jobs, err := e.h.Queue().Jobs(context.Background(), "", "locked.docx", 1)
	if err != nil || len(jobs) == 0 {
		t.Fatalf("jobs %v %v", jobs, err)
	}
	if j := jobs[0]; j.State == queue.Failed || !strings.Contains(j.LastError, "jsmith") {
		t.Fatalf("job %+v, want pending for retry with the lock holder in its error", j)
	}
	if len(e.files()) != 0 || e.fake.LockedBy(table, item) != "jsmith" {
		t.Fatal("the lock was stolen")
	}
	e.fake.Lock(table, item, "")
	e.h.WaitDelivered(t, "locked.docx", sum)
	if o := e.byName("locked.docx"); o == nil || o.SHA256 != sum {
		t.Fatal("content wrong after unlock")
	}
}

func TestE2ESSOTokenRefreshedAfter401(t *testing.T) {
	fake := sbm.NewFake()
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	h := daemontest.Start(t, "type: sbm\nurl: "+srv.URL+"\nauth: {type: sso, token_service_url: "+srv.URL+sbm.FakeTokenPath+
		", username: "+sbm.FakeUsername+", password: "+sbm.FakePassword+"}\n", "destination: {table: 1000, item: 140, field: FILEFIELD}")
	sum := h.WriteRandom(t, "a.bin", 10_000)
	h.WaitDelivered(t, "a.bin", sum)
	if n := fake.Count("TokenService"); n != 1 {
		t.Fatalf("%d token requests, want 1", n)
	}
	fake.ExpireTokens()
	sum2 := h.WriteRandom(t, "a.bin", 20_000)
	h.WaitDelivered(t, "a.bin", sum2)
	if n := fake.Count("TokenService"); n != 2 {
		t.Fatalf("%d token requests, want 2", n)
	}
	var saw401 bool
	for _, r := range fake.Requests() {
		saw401 = saw401 || (r.Status == 401 && r.BodyBytes == 0)
		if r.Op != "TokenService" && r.Status == 200 && r.Auth != "sso" {
			t.Fatalf("request %s authenticated as %q", r.Path, r.Auth)
		}
	}
	if !saw401 {
		t.Fatal("no 401 seen: the expired token was not used")
	}
	if o := fake.Files(table, item, field); len(o) != 1 || o[0].SHA256 != sum2 {
		t.Fatalf("field %+v", o)
	}
}

func TestE2EOverLimitSendsNothing(t *testing.T) {
	t.Run("max_file_size", func(t *testing.T) {
		e := startE2E(t, "max_file_size: 1KiB\n", "")
		e.h.WriteRandom(t, "big.bin", 4096)
		job := e.h.WaitFailed(t, "big.bin")
		if !strings.Contains(job.LastError, "max_file_size") || !strings.Contains(job.LastError, "nothing was sent") {
			t.Fatalf("last error %q", job.LastError)
		}
		if n := len(e.fake.Requests()); n != 0 {
			t.Fatalf("%d requests reached the server", n)
		}
	})
	t.Run("default 500 MB", func(t *testing.T) {
		e := startE2E(t, "", "")
		e.h.Place(t, "huge.iso", 0o644, func(f *os.File) error { return f.Truncate(sbm.DefaultMaxFileSize + 1) }) // sparse
		job := e.h.WaitFailed(t, "huge.iso")
		if !strings.Contains(job.LastError, "Maximum File Size of 500 MB") {
			t.Fatalf("last error %q", job.LastError)
		}
		if n := len(e.fake.Requests()); n != 0 {
			t.Fatalf("%d requests reached the server", n)
		}
	})
}
