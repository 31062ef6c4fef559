package connections_test

import (
	"context"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/targets/connections"
)

// Acceptance tests of issue 6: the real daemon (watcher, SQLite queue,
// workers, driver) delivering to the fake over loopback.

const e2eWatch = "destination: {activity_id: " + connections.FakeActivityID + "}\non_conflict: version"

// startDaemon serves a fake and runs the daemon against it with the fake's
// own target block plus chunk_threshold.
func startDaemon(t *testing.T, threshold string) (*daemontest.Harness, *connections.Fake) {
	t.Helper()
	fake, srv := serveFake(t)
	h := daemontest.Start(t, fake.Setup(srv.URL).Target+"chunk_threshold: "+threshold+"\n", e2eWatch)
	return h, fake
}

func serveFake(t *testing.T) (*connections.Fake, *httptest.Server) {
	t.Helper()
	fake := connections.NewFake()
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return fake, srv
}

func onlyField(t *testing.T, fake *connections.Fake) connections.Field {
	t.Helper()
	fields := fake.Fields(connections.FakeActivityID)
	if len(fields) != 1 {
		t.Fatalf("activity holds %d fields, want 1: %+v", len(fields), fields)
	}
	return fields[0]
}

func TestE2ESmallFileCreatesField(t *testing.T) {
	h, fake := startDaemon(t, "30MiB")
	sha := h.WriteRandom(t, "minutes/2026-11-23.docx", 300<<10)
	st := h.WaitDelivered(t, "minutes/2026-11-23.docx", sha)

	fl := onlyField(t, fake)
	if fl.Name != "2026-11-23.docx" || fl.SHA256 != sha || st.Remote.ID != fl.ID {
		t.Errorf("field %+v, recorded remote %+v; want 2026-11-23.docx with sha %s", fl, st.Remote, sha)
	}
	if s := fake.Stats(); s.Uploads != 1 || s.Phase1 != 0 {
		t.Errorf("stats %+v, want one raw-body upload", s)
	}
}

// TestE2ELargeFileTwoPhasesThenReplaced: a 40 MiB file goes up in two
// phases without the process allocating anything like its size; its
// modified version replaces the same field.
func TestE2ELargeFileTwoPhasesThenReplaced(t *testing.T) {
	const size = 40 << 20
	h, fake := startDaemon(t, "30MiB")
	sha := h.WriteRandom(t, "video/site-visit.mp4", size)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	st := h.WaitDelivered(t, "video/site-visit.mp4", sha)
	runtime.ReadMemStats(&after)

	fl := onlyField(t, fake)
	if fl.Name != "site-visit.mp4" || fl.SHA256 != sha || fl.Size != size || st.Remote.ID != fl.ID {
		t.Fatalf("field %+v, recorded remote %+v; want site-visit.mp4 with sha %s", fl, st.Remote, sha)
	}
	if s := fake.Stats(); s.Uploads != 0 || s.Phase1 != 1 || s.Phase2 != 1 {
		t.Errorf("stats %+v, want one phase 1 and one phase 2", s)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("the daemon and the fake allocated %s while delivering %s", config.FormatBytes(int64(alloc)), config.FormatBytes(size))
	if alloc > size/4 {
		t.Errorf("allocated %s while delivering %s: memory grows with the file", config.FormatBytes(int64(alloc)), config.FormatBytes(size))
	}

	sha2 := h.WriteRandom(t, "video/site-visit.mp4", size)
	st2 := h.WaitDelivered(t, "video/site-visit.mp4", sha2)
	fl = onlyField(t, fake)
	if st2.Remote.ID != st.Remote.ID || fl.ID != st.Remote.ID || fl.SHA256 != sha2 || fl.Version != 2 {
		t.Errorf("after the change: field %+v, recorded %+v; want field %s replaced with sha %s", fl, st2.Remote, st.Remote.ID, sha2)
	}
	if s := fake.Stats(); s.Phase1 != 2 || s.Phase2Stored != 2 {
		t.Errorf("stats %+v, want the replacement in two phases", s)
	}
}

// TestE2ERestartBetweenPhases stops the daemon while phase 2 is in flight
// (phase 1 done, the token recorded) and starts it again: phase 2 is sent
// again with the recorded token and the activity ends up with one field.
// The SIGKILL variant runs the daemon as a subprocess (the lead's test).
func TestE2ERestartBetweenPhases(t *testing.T) {
	fake, srv := serveFake(t)
	started := make(chan connections.Phase2, 1)
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // runs before srv.Close: the held handler must return
	var calls sync.Mutex
	first := true
	fake.SetPhase2Hook(func(_ context.Context, p connections.Phase2) {
		calls.Lock()
		hold := first
		first = false
		calls.Unlock()
		if hold {
			started <- p
			<-release
		}
	})
	target := strings.ReplaceAll(strings.TrimSpace(fake.Setup(srv.URL).Target+"chunk_threshold: 30MiB"), "\n", "\n    ")
	h := daemontest.StartYAML(t, "state_dir: {{state}}\nshutdown_timeout: 100ms\nretry: {initial: 20ms, max: 200ms}\n"+
		"targets:\n  t:\n    "+target+"\n"+
		"watches:\n  - path: {{inbox}}\n    target: t\n    settle: 100ms\n    "+strings.ReplaceAll(e2eWatch, "\n", "\n    ")+"\n")

	sha := h.WriteRandom(t, "big.bin", 40<<20)
	select {
	case p := <-started:
		if p.Size != 40<<20 || p.Replace {
			t.Fatalf("phase 2 = %+v", p)
		}
	case <-time.After(daemontest.Timeout):
		t.Fatal("phase 2 never started")
	}
	h.Stop() // the drain deadline passes and the upload is cut mid phase 2
	unblock()
	if s := fake.Stats(); s.Phase1 != 1 || s.Phase2Stored != 0 {
		t.Fatalf("stats after the stop %+v, want phase 1 done and nothing stored", s)
	}

	h.Restart(t)
	st := h.WaitDelivered(t, "big.bin", sha)
	fl := onlyField(t, fake)
	if fl.SHA256 != sha || st.Remote.ID != fl.ID {
		t.Errorf("field %+v, recorded %+v; want sha %s", fl, st.Remote, sha)
	}
	if s := fake.Stats(); s.Phase1 != 1 || s.Phase2 != 2 || s.Phase2Stored != 1 {
		t.Errorf("stats %+v, want phase 2 resent with the recorded token (no second phase 1)", s)
	}
}

func TestE2E413And415ReachTheFailedList(t *testing.T) {
	h, fake := startDaemon(t, "1MiB")
	fake.RejectName("scan-archive.iso", 413)
	fake.RejectName("setup.exe", 415)
	fake.RejectName("movie.avi", 415)
	h.WriteRandom(t, "scan-archive.iso", 200<<10) // raw-body POST
	h.WriteRandom(t, "setup.exe", 10<<10)         // raw-body POST
	h.WriteRandom(t, "movie.avi", 2<<20)          // two-phase: refused in phase 1
	for rel, want := range map[string]string{
		"scan-archive.iso": "file exceeds the server's limit",
		"setup.exe":        "file type not supported",
		"movie.avi":        "file type not supported",
	} {
		job := h.WaitFailed(t, rel)
		if !strings.Contains(job.LastError, want) || job.Attempts != 1 {
			t.Errorf("%s: failed after %d attempts with %q, want it at once with %q", rel, job.Attempts, job.LastError, want)
		}
	}
	if n := len(fake.Fields(connections.FakeActivityID)); n != 0 {
		t.Errorf("%d fields stored", n)
	}
	if s := fake.Stats(); s.Phase2 != 0 {
		t.Errorf("stats %+v: the two-phase refusal must come before the file is sent", s)
	}
}
