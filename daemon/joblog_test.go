package daemon_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/daemon"
	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/targets/sensenet"
)

// lockedBuffer is a log destination the daemon's goroutines share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startLogged runs a daemon with one sensenet watch (settle 50 ms) on a
// fake, logging at info into out; extra is more top-level configuration,
// prepare runs on the watch folder before the daemon starts.
func startLogged(t *testing.T, extra string, prepare func(in string)) (fake *sensenet.Fake, in string, d *daemon.Daemon, out *lockedBuffer) {
	t.Helper()
	fake = sensenet.NewFake()
	srv := httptest.NewServer(fake)
	t.Cleanup(func() { srv.Close(); fake.Close() })
	dir := t.TempDir()
	in = filepath.Join(dir, "in")
	if err := os.MkdirAll(in, 0o700); err != nil {
		t.Fatal(err)
	}
	prepare(in)
	y := fmt.Sprintf("state_dir: %s\nworkers: 2\n%stargets:\n  t:\n    type: sensenet\n    url: %s\n    auth: {type: bearer, token: %s}\nwatches:\n  - path: %s\n    target: t\n    destination: {path: %s}\n    settle: 50ms\n",
		filepath.Join(dir, "state"), extra, srv.URL, sensenet.DemoToken, in, sensenet.DocumentsPath)
	c, err := config.Parse(strings.NewReader(y))
	if err != nil {
		t.Fatal(err)
	}
	out = &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, cancel := context.WithCancel(context.Background())
	if d, err = daemon.New(ctx, c, daemon.Options{Log: log}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return fake, in, d, out
}

// Every line logged for a job names its target and path, right after the
// message: a retry's warning, the delivery, a permanent failure.
func TestJobLinesCarryTargetAndPath(t *testing.T) {
	fake, in, _, out := startLogged(t, "retry: {initial: 20ms, max: 200ms}\n", func(string) {})
	fake.Inject(1, sensenet.Fault{Status: 500})
	if err := os.WriteFile(filepath.Join(in, "ok file.txt"), []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	daemontest.Eventually(t, "the delivery's line", func() bool { return strings.Contains(out.String(), "msg=delivered") })
	fake.Inject(1000, sensenet.Fault{Status: 403})
	if err := os.WriteFile(filepath.Join(in, "bad.txt"), []byte("no"), 0o600); err != nil {
		t.Fatal(err)
	}
	daemontest.Eventually(t, "the failure's line", func() bool { return strings.Contains(out.String(), "upload failed permanently") })

	for _, want := range []string{
		`msg="upload failed; will retry" target=t path="ok file.txt" attempt=1 `,
		`msg=delivered target=t path="ok file.txt" bytes=5 `,
		`msg="upload failed permanently" target=t path=bad.txt kind=`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no line with %s in\n%s", want, out.String())
		}
	}
}
