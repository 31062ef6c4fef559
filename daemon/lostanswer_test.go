package daemon_test

import (
	"io"
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
	"github.com/dropsync/dropsync/targets"
	"github.com/dropsync/dropsync/targets/fakehttp"
	"github.com/dropsync/dropsync/targets/sensenet"
)

// lateCommitFake is a sensenet fake whose first committing upload is
// stored at once but answered only after a long delay (or never, if the
// client goes away): the window in which a SIGKILL (or a shutdown
// deadline) leaves the server holding the file and the queue not knowing.
func lateCommitFake(t *testing.T) (targets.Fake, *httptest.Server) {
	t.Helper()
	fake, err := targets.NewFake(sensenet.Type)
	if err != nil {
		t.Fatal(err)
	}
	faults := fakehttp.Wrap(fake)
	var late atomic.Bool
	faults.Set(func(r *http.Request) fakehttp.Action {
		if strings.Contains(r.URL.Path, "Upload") && late.CompareAndSwap(false, true) {
			return fakehttp.Action{AfterProcessing: true, Delay: time.Minute}
		}
		return fakehttp.Action{}
	})
	srv := httptest.NewServer(faults)
	t.Cleanup(srv.Close)
	if c, ok := fake.(interface{ Close() }); ok {
		t.Cleanup(c.Close)
	}
	return fake, srv
}

func copiesOf(fake targets.Fake, name string) []string {
	var got []string
	for n, shas := range remoteCopies(fake) {
		if targets.RenameOf(name, n) {
			got = append(got, shas...)
		}
	}
	return got
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if os.IsNotExist(err) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// SIGKILL after the server committed the upload and before the daemon
// recorded it. The on-disk state at that instant is taken as a copy of the
// database (db + wal) and of the sending marks while the daemon waits for the answer; a new daemon
// on that copy (a restart after kill -9) must not make a second version: the
// interrupted attempt is exactly "an upload whose answer was lost", and
// sensenet can be asked (targets.Verifier).
func TestKillAfterTheServersCommitMakesNoDuplicate(t *testing.T) {
	fake, srv := lateCommitFake(t)
	setup := fake.Setup(srv.URL)
	h := daemontest.Start(t, setup.Target+"timeout: 5m\n", "destination: "+setup.Destination)
	sha := h.WriteRandom(t, "once.bin", 4000)
	daemontest.Eventually(t, "the server to store the upload", func() bool { return len(copiesOf(fake, "once.bin")) == 1 })
	// kill -9 now: the on-disk state is what the files hold.
	crashed := filepath.Join(t.TempDir(), "state")
	if err := os.MkdirAll(crashed, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{queue.FileName, queue.FileName + "-wal", queue.SendingFileName} {
		copyFile(t, filepath.Join(h.StateDir, s), filepath.Join(crashed, s))
	}
	inbox := h.Inbox
	h.Stop() // the killed process does nothing more; its later writes went to the other copy

	y := "state_dir: " + crashed + "\nworkers: 4\nshutdown_timeout: 5s\nretry: {initial: 20ms, max: 200ms}\n" +
		"targets:\n  t:\n" + indentYAML(setup.Target+"timeout: 5s\n", "    ") +
		"watches:\n  - path: " + inbox + "\n    target: t\n    settle: 100ms\n    destination: " + setup.Destination + "\n"
	h2 := daemontest.StartYAML(t, y)
	h2.WaitDelivered(t, "once.bin", sha)
	if got := copiesOf(fake, "once.bin"); len(got) != 1 {
		t.Fatalf("after a kill -9 between the server's commit and the record: %d copies (versions) on the server, want 1", len(got))
	}
}

// A stop whose shutdown_timeout cuts an upload after the whole body was
// sent and stored: the attempt's answer was lost, as after a timeout. It
// was taken for "interrupted by shutdown" and sent again at the next start
// without asking the server.
func TestStopCuttingTheWaitForAnAnswerMakesNoDuplicate(t *testing.T) {
	fake, srv := lateCommitFake(t)
	setup := fake.Setup(srv.URL)
	y := "state_dir: {{state}}\nworkers: 4\nshutdown_timeout: 200ms\nretry: {initial: 20ms, max: 200ms}\n" +
		"targets:\n  t:\n" + indentYAML(setup.Target+"timeout: 5m\n", "    ") +
		"watches:\n  - path: {{inbox}}\n    target: t\n    settle: 100ms\n    destination: " + setup.Destination + "\n"
	h := daemontest.StartYAML(t, y)
	sha := h.WriteRandom(t, "once.bin", 4000)
	daemontest.Eventually(t, "the server to store the upload", func() bool { return len(copiesOf(fake, "once.bin")) == 1 })
	h.Restart(t) // SIGTERM; the deadline cuts the upload waiting for its answer
	h.WaitDelivered(t, "once.bin", sha)
	if got := copiesOf(fake, "once.bin"); len(got) != 1 {
		t.Fatalf("after a stop cut the upload whose body the server had stored: %d copies (versions) on the server, want 1", len(got))
	}
}
