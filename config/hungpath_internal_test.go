//go:build linux

package config

import (
	"strings"
	"testing"
	"time"

	"github.com/dropsync/dropsync/internal/hungfs"
)

// A configuration whose watch folder is on a mount that hangs (a hard NFS
// mount whose server is gone at boot) loads: each look at a folder gives
// up after pathWait, the folder counts as not there yet (the watch waits
// for it, as for a share not mounted), and a warning names it. The stat
// of the folder and the resolving of its links blocked for ever, so
// `dropsync run` hung before it started anything, and a SIGHUP's reload
// hung likewise.
func TestConfigWithAWatchOnAHungMountLoads(t *testing.T) {
	fs := hungfs.Mount(t)
	old := pathWait
	pathWait = 200 * time.Millisecond
	t.Cleanup(func() { pathWait = old })
	inbox := t.TempDir()
	y := "state_dir: " + t.TempDir() + "\ntargets:\n  t:\n    type: sensenet\n    url: https://example.com\n    token: x\n" +
		"watches:\n  - path: " + inbox + "\n    target: t\n    after_upload: move\n    move_to: " + fs.Dir + "/done\n" +
		"  - path: " + fs.Dir + "/in\n    target: t\n"
	fs.Hang()
	loaded := make(chan error, 1)
	var c *Config
	go func() {
		var err error
		c, err = Parse(strings.NewReader(y))
		loaded <- err
	}()
	select {
	case err := <-loaded:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		fs.Release()
		<-loaded
		t.Fatal("the configuration did not load within 20s: a look at the hung folder holds it")
	}
	if w := strings.Join(c.Warnings, "\n"); !strings.Contains(w, fs.Dir+"/in") || !strings.Contains(w, "did not answer") {
		t.Errorf("no warning names the hung watch folder: %q", w)
	}
}
