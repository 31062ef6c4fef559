package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/targets/sensenet"
)

// SIGKILL at every step of a delivery with after_upload: move and
// deletes: propagate, then a restart, then the operator removing the
// emptied folder: nothing is lost locally, nothing is deleted on the
// server, and the file is delivered once.
func TestSIGKILLAtEveryStepOfAfterUploadMove(t *testing.T) {
	for _, step := range []string{"recorded", "synced", "staged", "moved"} {
		t.Run(step, func(t *testing.T) {
			fake := sensenet.NewFake()
			srv := httptest.NewServer(fake)
			defer srv.Close()
			defer fake.Close()
			dir := t.TempDir()
			in, done, state := filepath.Join(dir, "in"), filepath.Join(dir, "done"), filepath.Join(dir, "state")
			os.MkdirAll(filepath.Join(in, "batch"), 0o700)
			cfg := writeConfig(t, dir, fmt.Sprintf(`state_dir: %s
log: {level: debug, format: json}
retry: {initial: 50ms, max: 500ms}
targets:
  docs:
    type: sensenet
    url: %s
    auth: {type: bearer, token: %s}
watches:
  - path: %s
    target: docs
    destination: {path: %s}
    settle: 200ms
    after_upload: move
    move_to: %s
    deletes: propagate
`, state, srv.URL, sensenet.DemoToken, in, sensenet.DocumentsPath, done))
			sha := writeRandom(t, filepath.Join(in, "batch", "a.pdf"), 64<<10)

			logs := &syncBuffer{}
			d1 := dropsync("run", "-c", cfg)
			d1.Env = append(d1.Env, "DROPSYNC_TEST_KILL_AT="+step)
			d1.Stderr = logs
			if err := d1.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- d1.Wait() }()
			select {
			case <-exited:
			case <-time.After(60 * time.Second):
				d1.Process.Kill()
				t.Fatalf("never reached step %q; log:\n%s", step, logs.String())
			}
			if ws, ok := d1.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("the first run ended with %v, not killed at %q; log:\n%s", d1.ProcessState, step, logs.String())
			}

			_, log2, _ := startRun(t, cfg)
			moved := filepath.Join(done, "batch", "a.pdf")
			daemontest.Eventually(t, "the move after the restart", func() bool {
				_, err := os.Stat(moved)
				return err == nil
			})
			waitIdle(t, state)
			left, _ := os.ReadDir(filepath.Join(in, "batch"))
			if len(left) > 0 {
				t.Fatalf("left in the watch: %v", left)
			}
			if err := os.Remove(filepath.Join(in, "batch")); err != nil { // the operator tidies up
				t.Fatal(err)
			}
			sentinel := writeRandom(t, filepath.Join(in, "sentinel.txt"), 10)
			daemontest.Eventually(t, "the sentinel", func() bool {
				c, ok := fake.Content(sensenet.DocumentsPath + "/sentinel.txt")
				return ok && c.Current().SHA256 == sentinel
			})
			waitIdle(t, state)

			c, ok := fake.Content(sensenet.DocumentsPath + "/batch/a.pdf")
			if !ok {
				t.Fatalf("the delivered object is gone from the server (trash: %v); log:\n%s", fake.Trashed(), log2.String())
			}
			if len(c.Versions) != 1 || c.Current().SHA256 != sha {
				t.Fatalf("server versions %+v: want the file once", c.Versions)
			}
			if tr := fake.Trashed(); len(tr) > 0 {
				t.Fatalf("deleted on the server: %v", tr)
			}
			got, err := os.ReadDir(filepath.Join(done, "batch"))
			if err != nil || len(got) != 1 {
				t.Fatalf("move_to holds %v (%v), want a.pdf once", got, err)
			}
			if s := sha256File(t, moved); s != sha {
				t.Fatal("the moved file differs from the original")
			}
		})
	}
}

// waitIdle waits until the daemon using stateDir has nothing pending or
// in flight.
func waitIdle(t *testing.T, stateDir string) {
	t.Helper()
	q, err := queue.OpenExisting(context.Background(), stateDir)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	daemontest.Eventually(t, "an idle queue", func() bool {
		c, err := q.Counts(context.Background())
		return err == nil && c[queue.Pending] == 0 && c[queue.Leased] == 0
	})
}

func sha256File(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
