package daemon_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/targets/blueworks"
	"github.com/dropsync/dropsync/targets/fakehttp"
)

// A probe of a down target ran its job through d.process without
// the runner slot (health.go: d.process(workCtx, j)), so sentOnce gets
// slot -1 and queue.MarkSent writes nothing. A daemon killed after the
// probe's upload was stored and before its answer leaves an unmarked
// lease, which recoverLeases does not count as ambiguous: Blueworks
// (cannot be asked; ambiguous_resends: 0 says "never send again") gets
// the file a second time, a duplicate attachment.
func TestKilledProbeUploadIsCountedAmbiguous(t *testing.T) {
	fake := blueworks.NewFake()
	faults := fakehttp.Wrap(fake)
	srv := httptest.NewServer(faults)
	t.Cleanup(srv.Close)
	var phase atomic.Int32 // 0: every request 503; 1: the first upload is stored and answered late
	var late atomic.Bool
	faults.Set(func(r *http.Request) fakehttp.Action {
		if phase.Load() == 0 {
			return fakehttp.Action{Status: http.StatusServiceUnavailable}
		}
		if strings.HasSuffix(r.URL.Path, blueworks.UploadPath) && late.CompareAndSwap(false, true) {
			return fakehttp.Action{AfterProcessing: true, Delay: time.Minute}
		}
		return fakehttp.Action{}
	})
	setup := fake.Setup(srv.URL)
	target := setup.Target + "ambiguous_resends: 0\n"
	cfg := func(state, inbox, timeout string) string {
		return "state_dir: " + state + "\nworkers: 4\nshutdown_timeout: 5s\nretry: {initial: 100ms, max: 300ms}\n" +
			"targets:\n  t:\n" + indentYAML(target+"timeout: "+timeout+"\n", "    ") +
			"watches:\n  - path: " + inbox + "\n    target: t\n    settle: 100ms\n    on_conflict: rename\n    destination: " + setup.Destination + "\n"
	}
	h := daemontest.StartYAML(t, cfg("{{state}}", "{{inbox}}", "5m"))
	h.WriteRandom(t, "claim.pdf", 3000)
	daemontest.Eventually(t, "the target down", func() bool { return targetState(h).State == queue.TargetDown })
	phase.Store(1) // the server is back: the probe (a job of the target) uploads claim.pdf
	daemontest.Eventually(t, "the server to store the probe's upload", func() bool { return len(fake.Attachments()) == 1 })
	// kill -9 now: the on-disk state is what the files hold.
	crashed := filepath.Join(t.TempDir(), "state")
	if err := os.MkdirAll(crashed, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{queue.FileName, queue.FileName + "-wal", queue.SendingFileName} {
		copyFile(t, filepath.Join(h.StateDir, s), filepath.Join(crashed, s))
	}
	inbox := h.Inbox
	h.Stop()

	h2 := daemontest.StartYAML(t, cfg(crashed, inbox, "5s"))
	h2.WaitIdle(t)
	if n := len(fake.Attachments()); n != 1 {
		t.Fatalf("a probe upload killed after the server stored it was sent again: %d attachments, want 1 (ambiguous_resends: 0)", n)
	}
}
