package blueworks_test

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/targets"
	"github.com/dropsync/dropsync/targets/blueworks"
)

// Acceptance tests of issue 5: the real daemon (watcher, SQLite queue,
// workers) delivering to the fake over loopback.

const watchYAML = "destination: {location: instance, ancestor_id: W-1001, parent_id: W-1001}\non_conflict: rename"

func startDaemon(t *testing.T) (*daemontest.Harness, *blueworks.Fake) {
	t.Helper()
	fake := blueworks.NewFake()
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	h := daemontest.Start(t, fake.Setup(srv.URL).Target, watchYAML)
	return h, fake
}

func failedJobs(t *testing.T, h *daemontest.Harness) []*queue.Job {
	t.Helper()
	js, err := h.Queue().Jobs(context.Background(), queue.Failed, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func TestE2EUploadRecordsID(t *testing.T) {
	h, fake := startDaemon(t)
	sha := h.WriteRandom(t, "minutes/2026-11-23.docx", 300<<10)
	st := h.WaitDelivered(t, "minutes/2026-11-23.docx", sha)

	as := fake.Attachments()
	if len(as) != 1 {
		t.Fatalf("fake holds %d attachments, want 1", len(as))
	}
	a := as[0]
	if st.Remote.ID != a.ID || st.Remote.Extra["fileItemId"] != a.FileItemID || st.Remote.Extra["type"] != "8" {
		t.Errorf("recorded %+v, fake attachment %+v", st.Remote, a)
	}
	if a.SHA256 != sha || a.Name != "2026-11-23.docx" || a.Location != "instance" || a.ParentID != "W-1001" {
		t.Errorf("attachment %+v, want content %s", a, sha)
	}
}

func TestE2ETokenExpiringMidRunIsRefreshed(t *testing.T) {
	h, fake := startDaemon(t)
	sha1 := h.WriteRandom(t, "one.pdf", 100<<10)
	h.WaitDelivered(t, "one.pdf", sha1)

	fake.ExpireTokens() // the cached token dies on the server
	sha2 := h.WriteRandom(t, "two.pdf", 2<<20)
	h.WaitDelivered(t, "two.pdf", sha2)

	if js := failedJobs(t, h); len(js) != 0 {
		t.Errorf("failed jobs: %+v", js[0])
	}
	s := fake.Stats()
	if s.Unauthorized != 1 || s.TokensIssued != 2 {
		t.Errorf("stats %+v: want one 401 answered by one new token", s)
	}
	if as := fake.Attachments(); len(as) != 2 || as[1].SHA256 != sha2 {
		t.Errorf("attachments %+v", as)
	}
}

func TestE2EOverLimitFailsBeforeSending(t *testing.T) {
	h, fake := startDaemon(t)
	// 51 MB, sparse: the size is what matters.
	h.Place(t, "scan.tif", 0o644, func(f *os.File) error { return f.Truncate(51_000_000) })

	job := h.WaitFailed(t, "scan.tif")
	if !strings.Contains(job.LastError, "over the Blueworks FileUpload limit of 50 MB (50,000,000 bytes); nothing was sent") {
		t.Errorf("last error %q", job.LastError)
	}
	if s := fake.Stats(); s.Uploads != 0 || s.TokenRequests != 0 {
		t.Errorf("fake stats %+v: want no request at all", s)
	}
}

func TestE2ESpaceFailsUntilRetried(t *testing.T) {
	h, fake := startDaemon(t)
	fake.SetSpaceFull(true)
	sha := h.WriteRandom(t, "plan.xlsx", 50<<10)
	job := h.WaitFailed(t, "plan.xlsx")
	if !strings.Contains(job.LastError, "status SPACE: the account has no space left") {
		t.Errorf("last error %q", job.LastError)
	}
	if s := fake.Stats(); s.Uploads != 1 {
		t.Errorf("%d upload requests, want 1: SPACE is not retried by itself", s.Uploads)
	}

	fake.SetSpaceFull(false)
	if n := h.RetryFailed(t); n != 1 {
		t.Fatalf("retry re-queued %d jobs, want 1", n)
	}
	st := h.WaitDelivered(t, "plan.xlsx", sha)
	as := fake.Attachments()
	if len(as) != 1 || as[0].SHA256 != sha || st.Remote.ID != as[0].ID {
		t.Errorf("attachments %+v, recorded %+v", as, st.Remote)
	}
}

func TestE2EFailedIsRetriedAFewTimes(t *testing.T) {
	h, fake := startDaemon(t)
	fake.StatusNext(10, "FAILED")
	h.WriteRandom(t, "flaky.txt", 1000)
	job := h.WaitFailed(t, "flaky.txt")
	if job.Attempts != 3 || !strings.Contains(job.LastError, "gave up after 3 attempts") || !strings.Contains(job.LastError, "status FAILED") {
		t.Errorf("job after %d attempts: %q", job.Attempts, job.LastError)
	}
	if s := fake.Stats(); s.Uploads != 3 {
		t.Errorf("%d upload requests, want 3", s.Uploads)
	}
}

func TestE2EThrottlePausesTheTarget(t *testing.T) {
	h, fake := startDaemon(t)
	const wait = 90 * time.Second
	fake.ThrottleNext(1, wait)
	before := time.Now()
	h.WriteRandom(t, "busy.pdf", 1000)

	var until time.Time
	daemontest.Eventually(t, "the target's pause", func() bool {
		until = h.PausedUntil(t, "t")
		return !until.IsZero()
	})
	after := time.Now()
	if until.Before(before.Add(wait)) || until.After(after.Add(wait+time.Second)) {
		t.Errorf("paused until %s: want Retry-After (%s) from the 429, between %s and %s", until.Format(time.RFC3339Nano), wait, before.Add(wait).Format(time.RFC3339Nano), after.Add(wait).Format(time.RFC3339Nano))
	}
	if s := fake.Stats(); s.Uploads != 1 || len(fake.Attachments()) != 0 {
		t.Errorf("stats %+v: want the one throttled request and nothing more during the pause", s)
	}
	if js := failedJobs(t, h); len(js) != 0 {
		t.Errorf("a throttled file went to the failed list: %q", js[0].LastError)
	}
	// The pause is persisted: a restart keeps it.
	h.Restart(t)
	if got := h.PausedUntil(t, "t"); !got.Equal(until) {
		t.Errorf("after restart paused until %s, want %s", got, until)
	}
}

// validate builds every target and checks every watch against it, as
// targets.Build does; on_conflict: version must be refused with a way out.
func TestE2EValidateRejectsVersion(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	if err := os.Mkdir(in, 0o700); err != nil {
		t.Fatal(err)
	}
	fake := blueworks.NewFake()
	y := "state_dir: " + filepath.Join(dir, "state") + "\ntargets:\n  bw:\n" +
		indent(fake.Setup("https://www.blueworkslive.com").Target) +
		"watches:\n  - path: " + in + "\n    target: bw\n    destination: {location: post}\n    on_conflict: version\n"
	c, err := config.Parse(strings.NewReader(y))
	if err != nil {
		t.Fatal(err)
	}
	_, err = targets.Build(c, nil)
	want := "watches[0].on_conflict: blueworks cannot add a version to an attachment"
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "use rename (each change adds a new attachment beside the earlier ones) or skip") {
		t.Fatalf("validate: %v; want %q and the suggestion of rename or skip", err, want)
	}
}

func indent(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString("    " + l + "\n")
	}
	return b.String()
}
