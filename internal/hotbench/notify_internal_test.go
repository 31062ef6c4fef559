package hotbench

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLargeRoundsWaitUntilTheDaemonIsReady: a fresh daemon gets the large
// file only once it has said READY=1 on its notify socket, as a systemd
// service does, so the measured window holds the delivery and not the
// process's start. The fake daemon (TestMain) creates its mark file just
// before it says READY=1; waitReady must not return before that.
func TestLargeRoundsWaitUntilTheDaemonIsReady(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	mark := filepath.Join(dir, "ready")
	b := &bench{o: Options{Dropsync: self, Dir: dir, Workers: 1, Settle: time.Second, Chunk: 1 << 20}, sink: "http://127.0.0.1:1"}

	t.Setenv("HOTBENCH_FAKE_DAEMON", "ready")
	t.Setenv("HOTBENCH_FAKE_MARK", mark)
	d, err := b.startDaemonNotify(ctx, "ready", "ready")
	if err != nil {
		t.Fatal(err)
	}
	defer d.stop()
	if err := d.waitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(mark); err != nil {
		t.Fatalf("waitReady returned before the daemon said READY=1: %v", err)
	}
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}

	t.Setenv("HOTBENCH_FAKE_DAEMON", "exit")
	d, err = b.startDaemonNotify(ctx, "exit", "exit")
	if err != nil {
		t.Fatal(err)
	}
	defer d.stop()
	err = d.waitReady(ctx)
	if err == nil || !strings.Contains(err.Error(), "exited before it was ready") || !strings.Contains(err.Error(), "dropsync-exit.log") {
		t.Fatalf("waitReady on a daemon that exits: %v, want an error naming its log", err)
	}
}
