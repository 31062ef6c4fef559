//go:build linux

package daemon_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/daemon"
	"github.com/dropsync/dropsync/internal/hungfs"
	"github.com/dropsync/dropsync/internal/sandbox"
)

// r1Ready is a Lifecycle that closes ready at Ready.
type r1Ready struct {
	ready chan struct{}
	once  sync.Once
}

func (r *r1Ready) Ready()    { r.once.Do(func() { close(r.ready) }) }
func (r *r1Ready) Stopping() {}

// Review r1: the start with a watch on a hung mount is said to no longer
// time out under systemd, but READY (Lifecycle.Ready) waits for every
// watch's start-up scan, and the hung watch's scan (its statRoot) never
// returns: under Type=notify systemd still never hears READY=1 and kills
// the service after TimeoutStartSec, at every restart.
func TestReviewR1ReadyWithAWatchOnAHungMount(t *testing.T) {
	fs := hungfs.Mount(t)
	rr.reset(0)
	y := strings.NewReplacer("{{inbox}}", t.TempDir(), "{{state}}", t.TempDir()).Replace(hungConfig(fs.Dir))
	c, err := config.Parse(strings.NewReader(y))
	if err != nil {
		t.Fatal(err)
	}
	fs.Hang()
	life := &r1Ready{ready: make(chan struct{})}
	d, err := daemon.New(context.Background(), c, daemon.Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Lifecycle: life, CheckFolders: sandbox.Checker{Wait: 300 * time.Millisecond}.Check})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		d.Run(ctx)
	}()
	t.Cleanup(func() {
		stop()
		fs.Release()
		<-ran
	})
	select {
	case <-life.ready:
	case <-time.After(30 * time.Second):
		t.Fatal("Ready was not called within 30s of the start: READY=1 waits for the scan of the watch on the hung mount, so systemd (Type=notify) times the start out")
	}
}
