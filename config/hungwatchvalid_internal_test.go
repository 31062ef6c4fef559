//go:build linux

package config

import (
	"strings"
	"testing"
	"time"

	"github.com/dropsync/dropsync/internal/hungfs"
)

// parseBounded parses y, failing the test if it has not returned within
// limit (the hung file system is released then, so that it returns).
func parseBounded(t *testing.T, fs *hungfs.FS, y string, limit time.Duration) (*Config, error) {
	t.Helper()
	type res struct {
		c   *Config
		err error
	}
	done := make(chan res, 1)
	go func() {
		c, err := Parse(strings.NewReader(y))
		done <- res{c, err}
	}()
	select {
	case r := <-done:
		return r.c, r.err
	case <-time.After(limit):
		fs.Release()
		<-done
		t.Fatalf("the configuration did not load within %s", limit)
		return nil, nil
	}
}

func hungHead(state string) string {
	return "state_dir: " + state + "\ntargets:\n  t:\n    type: sensenet\n    url: https://example.com\n    token: x\nwatches:\n"
}

// a watch whose folder does not answer in pathWait skips the
// rest of its validation (validateWatch returns nil before the target,
// the globs, on_conflict, after_upload, mode, poll_interval, move_to and
// failed_to are looked at). A typo in the target's name, a bad glob, or a
// relative move_to is then accepted, by `validate`, at the start and at a
// reload; none of them depend on the folder.
func TestHungWatchFolderStillValidatesTheRestOfTheWatch(t *testing.T) {
	fs := hungfs.Mount(t)
	old := pathWait
	pathWait = 200 * time.Millisecond
	t.Cleanup(func() { pathWait = old })
	fs.Hang()
	for _, tc := range []struct{ name, watch, want string }{
		{"undefined target", "    target: nosuch\n", "target"},
		{"bad glob", "    target: t\n    include: [\"[\"]\n", "include"},
		{"bad mode", "    target: t\n    mode: sometimes\n", "mode"},
		{"poll_interval too short", "    target: t\n    poll_interval: 1ms\n", "poll_interval"},
		{"move without move_to", "    target: t\n    after_upload: move\n", "move_to"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			y := hungHead(t.TempDir()) + "  - path: " + fs.Dir + "/in\n" + tc.watch
			_, err := parseBounded(t, fs, y, 20*time.Second)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("a watch on a hung folder with a wrong %s loads: err = %v", tc.want, err)
			}
		})
	}
}
