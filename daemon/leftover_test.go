package daemon_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/internal/safefs"
)

// A move across file systems (after_upload: move, failed_to) sets the
// source aside under a private ".dropsync-rm-" name before it removes it;
// a daemon killed in between leaves that file in the watch. It is the
// moved file (its copy is at the destination) or, if it changed during the
// copy, a newer version that was about to get its name back. The daemon
// never sends it (the original name is not known), and it used to say
// nothing: a newer version stayed hidden with no line naming it. It is
// named in one warning, once, and left as it is.
func TestLeftoverOfAnInterruptedMoveIsNamed(t *testing.T) {
	var left string
	_, in, d, out := startLogged(t, "", func(in string) {
		if err := os.MkdirAll(filepath.Join(in, "sub"), 0o700); err != nil {
			t.Fatal(err)
		}
		left = filepath.Join(in, "sub", safefs.RemovePrefix+"0123456789abcdef")
		if err := os.WriteFile(left, []byte("a newer version"), 0o600); err != nil {
			t.Fatal(err)
		}
	})

	if err := os.WriteFile(filepath.Join(in, "sub", "later.txt"), []byte("later"), 0o600); err != nil {
		t.Fatal(err)
	}
	daemontest.Eventually(t, "the later file's delivery", func() bool { return strings.Contains(out.String(), "msg=delivered") })
	daemontest.Eventually(t, "the leftover's warning", func() bool { return strings.Contains(out.String(), safefs.RemovePrefix+"0123456789abcdef") })
	// A second event for it, then a file noted after it: once that is
	// delivered, the leftover's second event has been handled too.
	now := time.Now()
	if err := os.Chtimes(left, now, now); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(in, "sub", "last.txt"), []byte("last"), 0o600); err != nil {
		t.Fatal(err)
	}
	daemontest.Eventually(t, "the last file's delivery", func() bool { return strings.Contains(out.String(), `path=sub/last.txt`) })
	logged := out.String()
	var lines []string
	for _, l := range strings.Split(logged, "\n") {
		if strings.Contains(l, safefs.RemovePrefix) {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], "level=WARN") || !strings.Contains(lines[0], "interrupted move") {
		t.Fatalf("lines naming the leftover: %q; want one warning saying it was left by an interrupted move", lines)
	}
	if b, err := os.ReadFile(left); err != nil || string(b) != "a newer version" {
		t.Fatalf("the leftover is %q, %v; want it left as it is", b, err)
	}
	if js, _ := d.Queue().Jobs(context.Background(), "", "sub/"+safefs.RemovePrefix+"0123456789abcdef", 1); len(js) != 0 {
		t.Fatalf("the leftover was queued: %+v", js[0])
	}
}
