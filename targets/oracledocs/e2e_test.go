package oracledocs_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/targets/oracledocs"
)

// e2e runs the real daemon against a fresh fake: the target block is the
// fake's Setup (plus extraTarget), the destination its demo folder.
func e2e(t *testing.T, extraTarget, watchYAML string) (*daemontest.Harness, *oracledocs.Fake) {
	t.Helper()
	fake := oracledocs.NewFake()
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	s := fake.Setup(srv.URL)
	h := daemontest.Start(t, s.Target+extraTarget, "destination: "+s.Destination+"\n"+watchYAML)
	return h, fake
}

func findRemote(t *testing.T, fake *oracledocs.Fake, rel string) oracledocs.FakeFile {
	t.Helper()
	f, ok := fake.Find(oracledocs.FakeFolderID, rel)
	if !ok {
		t.Fatalf("the server has no %s", rel)
	}
	return f
}

func TestE2ENewFileThenVersion2(t *testing.T) {
	h, fake := e2e(t, "", "")
	sum := h.WriteRandom(t, "invoice.pdf", 100_000)
	st := h.WaitDelivered(t, "invoice.pdf", sum)
	got := findRemote(t, fake, "invoice.pdf")
	if st.Remote.ID != got.ID || st.Remote.Version != "1" || got.Latest().SHA256 != sum {
		t.Fatalf("state %+v, server %+v", st.Remote, got)
	}

	sum2 := h.WriteRandom(t, "invoice.pdf", 120_000)
	st2 := h.WaitDelivered(t, "invoice.pdf", sum2)
	got = findRemote(t, fake, "invoice.pdf")
	if st2.Remote.ID != st.Remote.ID || st2.Remote.Version != "2" {
		t.Fatalf("modified file recorded as %+v, want version 2 of %s", st2.Remote, st.Remote.ID)
	}
	if len(got.Versions) != 2 || got.Versions[0].SHA256 != sum || got.Latest().SHA256 != sum2 {
		t.Fatalf("server versions %+v", got.Versions)
	}
	if n := len(fake.Files()); n != 1 {
		t.Errorf("server holds %d files, want 1", n)
	}
}

func TestE2ESameNameWithoutRecordBecomesRevision(t *testing.T) {
	h, fake := e2e(t, "", "")
	id := fake.AddFile(oracledocs.FakeFolderID, "plan.xlsx", []byte("uploaded by someone"))
	sum := h.WriteRandom(t, "plan.xlsx", 5000)
	st := h.WaitDelivered(t, "plan.xlsx", sum)
	if st.Remote.ID != id || st.Remote.Version != "2" {
		t.Fatalf("recorded %+v, want revision 2 of %s", st.Remote, id)
	}
	if got, _ := fake.File(id); got.Latest().SHA256 != sum {
		t.Fatalf("server holds %+v", got)
	}
}

func TestE2ERenameGivesName2(t *testing.T) {
	h, fake := e2e(t, "", "on_conflict: rename")
	orig := fake.AddFile(oracledocs.FakeFolderID, "photo.jpg", []byte("original"))
	sum := h.WriteRandom(t, "photo.jpg", 3000)
	st := h.WaitDelivered(t, "photo.jpg", sum)
	if st.Remote.Name != "photo(2).jpg" {
		t.Fatalf("recorded name %q, want photo(2).jpg", st.Remote.Name)
	}
	if got := findRemote(t, fake, "photo(2).jpg"); got.Latest().SHA256 != sum {
		t.Fatalf("photo(2).jpg holds %+v", got)
	}
	if got, _ := fake.File(orig); len(got.Versions) != 1 {
		t.Errorf("the original has %d versions, want it untouched", len(got.Versions))
	}
}

func TestE2ESkipLeavesServerUnchanged(t *testing.T) {
	h, fake := e2e(t, "", "on_conflict: skip")
	id := fake.AddFile(oracledocs.FakeFolderID, "fixed.txt", []byte("do not touch"))
	before, _ := fake.File(id)
	h.WriteRandom(t, "fixed.txt", 100)
	st := h.WaitDelivered(t, "fixed.txt", "")
	h.WaitIdle(t)
	if st.Remote.ID != id {
		t.Errorf("recorded %+v, want the existing file %s", st.Remote, id)
	}
	after, _ := fake.File(id)
	if fmt.Sprint(after.Versions) != fmt.Sprint(before.Versions) {
		t.Errorf("server changed: %+v → %+v", before.Versions, after.Versions)
	}
	if n := fake.Count(oracledocs.OpUpload) + fake.Count(oracledocs.OpUploadVersion); n != 0 {
		t.Errorf("%d uploads, want none", n)
	}
}

func TestE2ESubFoldersMirrored(t *testing.T) {
	h, fake := e2e(t, "", "")
	sums := map[string]string{}
	for _, rel := range []string{"clients/acme/2026/a.pdf", "clients/acme/2026/b.pdf", "clients/zeta/c.pdf", "top.pdf"} {
		sums[rel] = h.WriteRandom(t, rel, 2000)
	}
	for rel, sum := range sums {
		h.WaitDelivered(t, rel, sum)
		if got := findRemote(t, fake, rel); got.Latest().SHA256 != sum {
			t.Errorf("%s: server sha %s, want %s", rel, got.Latest().SHA256, sum)
		}
	}
	if n := fake.Count(oracledocs.OpCreateFolder); n != 4 {
		t.Errorf("%d folders created, want 4 (clients, acme, 2026, zeta)", n)
	}
}

// A wrong password fails no file: the target's credentials are rejected
// with Oracle's words, the file waits without attempts piling up, and once
// the password file holds the right password the file is delivered.
func TestE2EWrongPasswordWaitsForTheRightOne(t *testing.T) {
	fake := oracledocs.NewFake()
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	pwFile := filepath.Join(t.TempDir(), "oce.pw")
	if err := os.WriteFile(pwFile, []byte("not-the-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := daemontest.Start(t,
		fmt.Sprintf("type: oracle-documents\nurl: %s\nauth: {type: basic, username: %s, password_file: %s}", srv.URL, oracledocs.FakeUser, pwFile),
		"destination: {folder_id: "+oracledocs.FakeFolderID+"}")
	sum := h.WriteRandom(t, "a.txt", 100)
	var th queue.TargetHealth
	daemontest.Eventually(t, "credentials rejected", func() bool {
		for _, x := range h.Daemon().TargetsHealth() {
			th = x
		}
		return th.State == queue.TargetCredentials
	})
	if !strings.Contains(th.Reason, "Authentication failed: the user name or password is not valid.") || strings.Contains(th.Reason, "not-the-password") {
		t.Errorf("target shows %q, want Oracle's message without the password", th.Reason)
	}
	if err := os.WriteFile(pwFile, []byte(oracledocs.FakePassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.WaitDelivered(t, "a.txt", sum)
	if c, _ := h.Queue().Counts(context.Background()); c[queue.Failed] != 0 {
		t.Errorf("counts %v", c)
	}
}

func TestE2E503AndResetsAreRetriedUntilDelivered(t *testing.T) {
	h, fake := e2e(t, "", "")
	fake.FailNext(2, oracledocs.OpUpload, oracledocs.Failure{Status: 503, ErrorCode: "-1", Message: "The service is temporarily unavailable."})
	fake.ResetNext(2, oracledocs.OpUpload)
	sum := h.WriteRandom(t, "flaky.bin", 512<<10)
	st := h.WaitDelivered(t, "flaky.bin", sum)
	got := findRemote(t, fake, "flaky.bin")
	if got.ID != st.Remote.ID || len(got.Versions) != 1 || got.Latest().SHA256 != sum {
		t.Fatalf("server holds %+v, state %+v", got, st.Remote)
	}
	var statuses []int
	for _, r := range fake.Requests() {
		if r.Op == oracledocs.OpUpload {
			statuses = append(statuses, r.Status)
		}
	}
	// The order of resets and 503s depends on which knob matches first;
	// what matters is four failures, then the delivery.
	if len(statuses) != 5 || statuses[4] != 201 {
		t.Errorf("upload statuses %v, want 4 failures (0 = reset, 503) then 201", statuses)
	}
}

func TestE2EDeletePropagates(t *testing.T) {
	h, fake := e2e(t, "", "deletes: propagate")
	sum := h.WriteRandom(t, "sub/old.txt", 100)
	st := h.WaitDelivered(t, "sub/old.txt", sum)
	h.Remove(t, "sub/old.txt")
	h.WaitForgotten(t, "sub/old.txt")
	if got, _ := fake.File(st.Remote.ID); !got.Trashed {
		t.Errorf("remote file %s not in the trash", st.Remote.ID)
	}
}
