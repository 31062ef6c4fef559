package main

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/internal/hungfs"
	"github.com/dropsync/dropsync/targets/sensenet"
)

// `dropsync run` with a second watch on a mount that hangs (a hard NFS
// mount whose server is gone at boot) starts and delivers from the first:
// the configuration's look at the folder and the start-up folder check
// each give up on it after 10s, with a warning that names it. It hung in
// the first look: no watch ran, and under systemd the start timed out at
// every restart. (About 20s: the two waits.)
func TestRunWithAWatchOnAHungMountDeliversTheOthers(t *testing.T) {
	if testing.Short() {
		t.Skip("waits 20s for the hung mount")
	}
	fs := hungfs.Mount(t)
	fake := sensenet.NewFake()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	dir, cfg := hungWatchConfig(t, fs, srv.URL, sensenet.DemoToken)
	fs.Hang()
	_, logs, exited := startRun(t, cfg)
	t.Cleanup(fs.Release) // before startRun's stop: the daemon's stop does not wait for the mount, its exit may
	daemontest.Eventually(t, "the start", func() bool {
		select {
		case <-exited:
			t.Fatalf("dropsync run ended:\n%s", logs.String())
		default:
		}
		return strings.Contains(logs.String(), "dropsync started")
	})
	if err := os.WriteFile(filepath.Join(dir, "in", "a.txt"), []byte("from the watch that works"), 0o600); err != nil {
		t.Fatal(err)
	}
	daemontest.Eventually(t, "a.txt delivered", func() bool {
		return strings.Contains(logs.String(), `"msg":"delivered"`) && strings.Contains(logs.String(), "a.txt")
	})
	if l := logs.String(); !strings.Contains(l, "did not answer within 10s") || !strings.Contains(l, fs.Dir) {
		t.Errorf("no warning names the hung folder:\n%s", l)
	}
}

// hungWatchConfig writes a configuration with sensenetConfig's watch of
// dir/in and a second, polled watch of fs; it returns dir and the file.
func hungWatchConfig(t *testing.T, fs *hungfs.FS, url, token string) (dir, cfg string) {
	t.Helper()
	dir = t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "in"), 0o700); err != nil {
		t.Fatal(err)
	}
	text := sensenetConfig(dir, url, token, "") +
		"  - path: " + fs.Dir + "\n    target: docs\n    destination: {path: " + sensenet.DocumentsPath + "}\n    mode: poll\n"
	return dir, writeConfig(t, dir, text)
}
