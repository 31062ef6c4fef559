//go:build linux

package daemon_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/daemon"
	"github.com/dropsync/dropsync/internal/hungfs"
)

// readyLife is a Lifecycle that closes ready at Ready.
type readyLife struct {
	ready chan struct{}
	once  sync.Once
}

func (r *readyLife) Ready()    { r.once.Do(func() { close(r.ready) }) }
func (r *readyLife) Stopping() {}

// the start with a watch on a hung mount is said to no longer
// time out under systemd, but READY (Lifecycle.Ready) waits for every
// watch's start-up scan, and the hung watch's scan (its statRoot) never
// returns: under Type=notify systemd still never hears READY=1 and kills
// the service after TimeoutStartSec, at every restart.
func TestReadyWithAWatchOnAHungMount(t *testing.T) {
	fs := hungfs.Mount(t)
	rr.reset(0)
	y := strings.NewReplacer("{{inbox}}", t.TempDir(), "{{state}}", t.TempDir()).Replace(hungConfig(fs.Dir))
	c, err := config.Parse(strings.NewReader(y))
	if err != nil {
		t.Fatal(err)
	}
	fs.Hang()
	life := &readyLife{ready: make(chan struct{})}
	if d, _ := startChecked(t, c, fs, daemon.Options{Lifecycle: life}); d == nil {
		return
	}
	select {
	case <-life.ready:
	case <-time.After(30 * time.Second):
		t.Fatal("Ready was not called within 30s of the start: READY=1 waits for the scan of the watch on the hung mount, so systemd (Type=notify) times the start out")
	}
}
