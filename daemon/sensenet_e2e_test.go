package daemon_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/targets/sensenet"
)

// startSensenet serves a fresh sensenet fake and runs the daemon against it.
func startSensenet(t *testing.T, targetExtra, watchYAML string) (*daemontest.Harness, *sensenet.Fake) {
	t.Helper()
	fake := sensenet.NewFake()
	srv := httptest.NewServer(fake)
	t.Cleanup(func() { srv.Close(); fake.Close() })
	target := fmt.Sprintf("type: sensenet\nurl: %s\nauth: {type: bearer, token: %s}\n%s", srv.URL, sensenet.DemoToken, targetExtra)
	if !strings.Contains(watchYAML, "destination:") {
		watchYAML = "destination: {path: " + sensenet.DocumentsPath + "}\n" + watchYAML
	}
	return daemontest.Start(t, target, watchYAML), fake
}

// remoteSHA is the SHA-256 of the current version of a file in the fake.
func remoteSHA(fake *sensenet.Fake, rel string) string {
	c, ok := fake.Content(sensenet.DocumentsPath + "/" + rel)
	if !ok {
		return ""
	}
	return c.Current().SHA256
}

func TestSensenet200FilesArriveWithMatchingHashes(t *testing.T) {
	h, fake := startSensenet(t, "", "")
	want := map[string]string{}
	for i := range 200 {
		var rel string
		switch i % 4 {
		case 0:
			rel = fmt.Sprintf("scan %03d.pdf", i)
		case 1:
			rel = fmt.Sprintf("Ünïcödé/résumé ✓ %d.txt", i)
		case 2:
			rel = fmt.Sprintf("deep/a/b/c/d/e/f/%d.bin", i)
		default:
			rel = fmt.Sprintf("mixed/it's (%d) & more.doc", i)
		}
		want[rel] = h.WriteRandom(t, rel, int64(512+i*97))
	}
	server := strings.NewReplacer("'", "-", "&", "-") // the server's names (FACTS.md §5.6)
	for rel, sha := range want {
		h.WaitDelivered(t, rel, sha)
		if got := remoteSHA(fake, server.Replace(rel)); got != sha {
			t.Errorf("%s: server holds %q, want %s", rel, got, sha)
		}
	}
}

func TestSensenetModifiedFileBecomesNewVersionAndRenameGivesCopy(t *testing.T) {
	h, fake := startSensenet(t, "read_version: true\n", "")
	sha1 := h.WriteRandom(t, "report.pdf", 1000)
	st1 := h.WaitDelivered(t, "report.pdf", sha1)
	sha2 := h.WriteRandom(t, "report.pdf", 1200)
	st2 := h.WaitDelivered(t, "report.pdf", sha2)
	if st1.Remote.ID == "" || st2.Remote.ID != st1.Remote.ID {
		t.Fatalf("remote id changed: %q → %q", st1.Remote.ID, st2.Remote.ID)
	}
	c, _ := fake.Content(sensenet.DocumentsPath + "/report.pdf")
	if len(c.Versions) != 2 || c.Versions[0].SHA256 != sha1 || c.Versions[1].SHA256 != sha2 || st2.Remote.Version == st1.Remote.Version {
		t.Fatalf("versions %+v (recorded %s → %s)", c.Versions, st1.Remote.Version, st2.Remote.Version)
	}

	// A second daemon with on_conflict: rename keeps the server's file.
	r, _ := startSensenetOn(t, fake, "on_conflict: rename")
	sha3 := r.WriteRandom(t, "report.pdf", 10)
	st3 := r.WaitDelivered(t, "report.pdf", sha3)
	if st3.Remote.Name != "report(1).pdf" || remoteSHA(fake, "report(1).pdf") != sha3 || remoteSHA(fake, "report.pdf") != sha2 {
		t.Fatalf("rename recorded %+v", st3.Remote)
	}
}

// startSensenetOn runs another daemon against an existing fake.
func startSensenetOn(t *testing.T, fake *sensenet.Fake, watchYAML string) (*daemontest.Harness, *httptest.Server) {
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	target := fmt.Sprintf("type: sensenet\nurl: %s\nauth: {type: bearer, token: %s}\n", srv.URL, sensenet.DemoToken)
	return daemontest.Start(t, target, "destination: {path: "+sensenet.DocumentsPath+"}\n"+watchYAML), srv
}

func TestSensenetSlowWriterDeliveredOnceWithFinalContent(t *testing.T) {
	// The writer pauses 150ms between lines; settle leaves a wide margin, so
	// that a loaded machine stalling the test's own writer does not end a
	// write early (the watcher emits a file whose pause exceeded settle).
	h, fake := startSensenet(t, "", "settle: 2s")
	p := filepath.Join(h.Inbox, "slow.log")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	tick := time.NewTicker(150 * time.Millisecond)
	for i := range 20 { // three seconds of writing
		<-tick.C
		fmt.Fprintf(f, "line %d of a slow export\n", i)
	}
	tick.Stop()
	f.Close()
	data, _ := os.ReadFile(p)
	st := h.WaitDelivered(t, "slow.log", sha256hex(data))
	h.WaitIdle(t)
	c, _ := fake.Content(sensenet.DocumentsPath + "/slow.log")
	if len(c.Versions) != 1 || st.FP.Size != int64(len(data)) {
		t.Fatalf("%d versions on the server, want 1 with the final content", len(c.Versions))
	}
}

func TestSensenetTransientFailuresAreRetriedUntilDelivered(t *testing.T) {
	h, fake := startSensenet(t, "chunk_threshold: 64KiB\nchunk_size: 16KiB\n", "")
	fake.Inject(1, sensenet.Fault{Status: 500})
	fake.Inject(1, sensenet.Fault{Status: 503})
	fake.Inject(1, sensenet.Fault{Status: 429, RetryAfter: 1})
	fake.Inject(2, sensenet.Fault{Reset: true})
	fake.Inject(1, sensenet.Fault{Op: sensenet.OpChunk, Skip: 1, Reset: true})
	small := h.WriteRandom(t, "small.txt", 2000)
	big := h.WriteRandom(t, "big.bin", 200<<10)
	h.WaitDelivered(t, "small.txt", small)
	h.WaitDelivered(t, "big.bin", big)
	if remoteSHA(fake, "big.bin") != big || remoteSHA(fake, "small.txt") != small {
		t.Fatal("server content differs")
	}
	if c, _ := h.Queue().Counts(context.Background()); c[queue.Failed] != 0 {
		t.Fatalf("counts %v", c)
	}
}

// A 401 is about the credentials, not the file: see
// TestBadTokenWaitsAndIsDeliveredOnceTheFileIsFixed.
func TestSensenetForbiddenAndNotFoundFailAfterOneAttempt(t *testing.T) {
	cases := []struct {
		status int
		msg    string
	}{
		{403, "Access denied for user bot to /Root/Content/Documents"},
		{404, "Content not found: /Root/Content/Documents"},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			h, fake := startSensenet(t, "", "")
			fake.Inject(1000, sensenet.Fault{Status: tc.status, Message: tc.msg})
			h.WriteRandom(t, "doc.txt", 100)
			job := h.WaitFailed(t, "doc.txt")
			if job.Attempts != 1 || !strings.Contains(job.LastError, tc.msg) || !strings.Contains(job.LastError, fmt.Sprintf("HTTP %d", tc.status)) {
				t.Fatalf("failed job %+v", job)
			}
			before := fake.Requests(sensenet.OpAny)
			h.Daemon().Wake()
			h.WriteRandom(t, "other.txt", 10) // the daemon keeps working…
			h.WaitFailed(t, "other.txt")
			h.WaitIdle(t)
			if n := fake.Requests(sensenet.OpAny) - before; n > 3 {
				t.Fatalf("%d more requests: the failed file is being retried", n)
			}
		})
	}
}

func TestSensenetDeletePropagates(t *testing.T) {
	h, fake := startSensenet(t, "", "deletes: propagate")
	sha := h.WriteRandom(t, "gone.txt", 100)
	h.WaitDelivered(t, "gone.txt", sha)
	h.Remove(t, "gone.txt")
	h.WaitForgotten(t, "gone.txt")
	if _, ok := fake.Content(sensenet.DocumentsPath + "/gone.txt"); ok {
		t.Fatal("still on the server")
	}
}

func TestSensenetThrottlePausePersists(t *testing.T) {
	h, fake := startSensenet(t, "", "")
	fake.Inject(1, sensenet.Fault{Status: 429, RetryAfter: 3600})
	start := time.Now()
	h.WriteRandom(t, "later.txt", 10)
	daemontest.Eventually(t, "the pause", func() bool { return !h.PausedUntil(t, "t").IsZero() })
	until := h.PausedUntil(t, "t")
	if d := until.Sub(start); d < 3599*time.Second || d > 3700*time.Second {
		t.Fatalf("paused for %s, want about an hour", d)
	}
	h.Restart(t)
	if got := h.PausedUntil(t, "t"); !got.Equal(until) {
		t.Fatalf("pause after restart %v, want %v", got, until)
	}
}
