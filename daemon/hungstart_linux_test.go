//go:build linux

package daemon_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/daemon"
	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/internal/hungfs"
	"github.com/dropsync/dropsync/internal/sandbox"
)

// A watch folder on a mount that hangs when the daemon starts (a hard NFS
// mount whose server is gone at boot) does not hold the start: its folder
// check, which `dropsync run` makes before anything runs, gives up after a
// while, says so, and the daemon starts with the other watches working;
// the hung one waits. The check blocked for ever: no watch ran, and the
// start timed out under systemd, again at every restart.
func TestStartWithAWatchOnAHungMountRunsTheOthers(t *testing.T) {
	fs := hungfs.Mount(t)
	rr.reset(0)
	inbox := t.TempDir()
	y := strings.NewReplacer("{{inbox}}", inbox, "{{state}}", t.TempDir()).Replace(hungConfig(fs.Dir))
	c, err := config.Parse(strings.NewReader(y))
	if err != nil {
		t.Fatal(err)
	}
	fs.Hang()
	d, _ := startChecked(t, c, fs, daemon.Options{})
	if d == nil {
		return
	}
	if err := os.WriteFile(filepath.Join(inbox, "a.txt"), []byte("a"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitState(t, d, inbox, "a.txt")
}

// A reload whose folder check meets a watch folder on a hung mount is
// applied all the same, once the check gives up on that folder: the
// reload's folder check held the goroutine that takes SIGHUP for as long
// as the mount hung, and every later reload waited behind it.
func TestReloadWithAWatchOnAHungMountIsApplied(t *testing.T) {
	fs := hungfs.Mount(t)
	rr.reset(0)
	inbox, added := t.TempDir(), t.TempDir()
	r := strings.NewReplacer("{{inbox}}", inbox, "{{state}}", t.TempDir())
	c, err := config.Parse(strings.NewReader(r.Replace(hungConfig(fs.Dir))))
	if err != nil {
		t.Fatal(err)
	}
	d, _ := startChecked(t, c, fs, daemon.Options{})
	if d == nil {
		return
	}
	c2, err := config.Parse(strings.NewReader(r.Replace(hungConfig(fs.Dir) + "  - path: " + added + "\n    target: t\n    settle: 50ms\n")))
	if err != nil {
		t.Fatal(err)
	}
	fs.Hang() // after the parse, which gives up on a hung folder too (config's own test)
	reloaded := make(chan error, 1)
	go func() { reloaded <- d.Reload(context.Background(), c2) }()
	select {
	case err := <-reloaded:
		if err != nil {
			t.Fatalf("reload: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the reload did not return within 20s: its folder check waits for the hung mount")
	}
	if err := os.WriteFile(filepath.Join(added, "b.txt"), []byte("b"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitState(t, d, added, "b.txt")
}

// startChecked makes and runs a daemon for c with o and, unless o has
// its own, the folder check `dropsync run` makes (giving up on a folder
// after 300ms); it is stopped when the test ends, after fs is released.
// It returns nil if New failed or hung (the test has failed then), and
// the stop, which returns a channel closed when Run has returned.
func startChecked(t *testing.T, c *config.Config, fs *hungfs.FS, o daemon.Options) (*daemon.Daemon, func() <-chan struct{}) {
	t.Helper()
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.CheckFolders == nil {
		o.CheckFolders = sandbox.Checker{Wait: 300 * time.Millisecond}.Check
	}
	made := make(chan *daemon.Daemon, 1)
	go func() {
		d, err := daemon.New(context.Background(), c, o)
		if err != nil {
			t.Error(err)
		}
		made <- d
	}()
	var d *daemon.Daemon
	select {
	case d = <-made:
	case <-time.After(20 * time.Second):
		fs.Release()
		<-made
		t.Error("the daemon did not start within 20s: the folder check of the hung watch holds the start")
		return nil, nil
	}
	if d == nil {
		return nil, nil
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
		daemontest.Eventually(t, "the watchers' end once released", func() bool { return len(daemon.Unended(d)) == 0 })
	})
	return d, func() <-chan struct{} { stop(); return ran }
}

// waitState waits until rel of watch is recorded delivered.
func waitState(t *testing.T, d *daemon.Daemon, watch, rel string) {
	t.Helper()
	daemontest.Eventually(t, rel+" delivered from "+watch, func() bool {
		st, err := d.Queue().FileState(context.Background(), watch, rel)
		return err == nil && st != nil
	})
}
