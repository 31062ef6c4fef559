//go:build linux

package daemon_test

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/internal/hungfs"
	"github.com/dropsync/dropsync/targets"
)

// holdTarget is a target whose uploads read their whole body, then wait for
// holdRelease (a slow server answering): while they wait they hold their
// upload slot.
var (
	holdHeld    atomic.Int64
	holdRelease = make(chan struct{})
	holdOnce    sync.Once
)

type holdTarget struct{}

func init() {
	targets.Register("hold-target", func(b *targets.Base) (targets.Target, error) { return holdTarget{}, nil })
}

func (holdTarget) Watch(w *config.Watch) (any, error) { return nil, w.Destination.Decode() }
func (holdTarget) Prepare(_ context.Context, f *targets.File) (*targets.Plan, error) {
	return &targets.Plan{Name: f.Name()}, nil
}
func (holdTarget) Put(ctx context.Context, f *targets.File, _ *targets.Plan, body *targets.Body) (targets.Remote, error) {
	if _, err := io.Copy(io.Discard, body); err != nil {
		return targets.Remote{}, err
	}
	holdHeld.Add(1)
	select {
	case <-holdRelease:
	case <-ctx.Done():
		return targets.Remote{}, ctx.Err()
	}
	return targets.Remote{ID: f.Rel, Name: f.Name(), Version: "1"}, nil
}
func (holdTarget) Close() error { return nil }

// The open gate covers only open(2). A mount that dies while
// its watch's files are being uploaded (the common case: a burst is in
// flight when the NFS server goes away) holds every runner that is past
// the gate: the fstat and fstatat of src.unchanged, made inside the
// upload while it holds its upload slot, block in the kernel. With as
// many such uploads as workers, every slot is held, and no other watch
// delivers anything for as long as the mount hangs, which is what the
// gate was meant to prevent.
func TestUploadsInFlightWhenTheMountDiesDoNotHoldEverySlot(t *testing.T) {
	fs := hungfs.Mount(t)
	rr.reset(0)
	for i := range 4 {
		fs.AddFile(fmt.Sprintf("f%d.bin", i), []byte("a file of the share that dies"))
	}
	y := "state_dir: {{state}}\nworkers: 2\nshutdown_timeout: 1s\nretry: {initial: 20ms, max: 200ms}\n" +
		"targets:\n  t:\n    type: rr-client\n    url: http://t\n  hold:\n    type: hold-target\n    url: http://hold\n" +
		"watches:\n  - path: {{inbox}}\n    target: t\n    settle: 50ms\n" +
		"  - path: " + fs.Dir + "\n    target: hold\n    settle: 50ms\n    mode: poll\n    poll_interval: 100ms\n"
	h := daemontest.StartYAML(t, y)
	t.Cleanup(func() {
		// Before the harness's stop.
		holdOnce.Do(func() { close(holdRelease) })
		fs.Release()
		daemontest.Eventually(t, "the calls blocked in the share to end once released", func() bool { return fs.Blocked() == 0 })
	})
	daemontest.Eventually(t, "both upload slots held by uploads from the share", func() bool { return holdHeld.Load() >= 2 })
	fs.Hang()
	hungAt := time.Now()
	// The kernel answers fstat from its attribute cache for 1s (go-fuse's
	// default); wait that out (a kernel timer, not a goroutine to
	// synchronise with), then let the server answer the uploads.
	daemontest.Eventually(t, "the kernel's attribute cache of the share to expire", func() bool { return time.Since(hungAt) > 1500*time.Millisecond })
	holdOnce.Do(func() { close(holdRelease) })

	h.WriteFile(t, "after.txt", []byte("from the watch that works"))
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := h.Queue().FileState(context.Background(), h.Inbox, "after.txt")
		if err != nil {
			t.Fatal(err)
		}
		if st != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after.txt, from a watch on a healthy disk, not delivered within 20s of the share hanging: "+
				"%d calls blocked in the hung share; the runners whose uploads were in flight hold every upload slot (the open gate covers only open(2))", fs.Blocked())
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
	if n := fs.Blocked(); n == 0 {
		t.Fatalf("after.txt delivered only once the hang ended")
	}
}
