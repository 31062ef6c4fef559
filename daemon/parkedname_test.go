//go:build linux

package daemon_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dropsync/dropsync/daemon/daemontest"
)

// a long-named file parked in failed_to under a free name (an
// earlier file of its name is still parked there) comes back with
// `queue retry`. safefs.FreeName now cuts the stem so the free name fits
// 255 bytes ("mmm…m (2).pdf" with fewer m's), but parkedName (which
// restoreFailed uses) only looks for "<whole stem> (": it never finds the
// parked file, the retried job finds no file in the watch, and the file
// stays in failed_to while its job ends as gone; nothing is delivered.
func TestRetryOfALongNameParkedUnderAFreeNameBringsItBack(t *testing.T) {
	retryParkedUnderAFreeName(t, strings.Repeat("m", 250)+".pdf") // 254 bytes: a valid name
}

// Names that are all extension (parkedName predated the long-name
// change): FreeName(".env", 2) is ".env (2)" (the whole name is the stem),
// but parkedName splits ".env" into the stem "" and the extension ".env"
// and looks for " (n).env": a dotfile parked under a free name is not
// found by `queue retry` either.
func TestRetryOfADotfileParkedUnderAFreeNameBringsItBack(t *testing.T) {
	retryParkedUnderAFreeName(t, ".env")
}

func retryParkedUnderAFreeName(t *testing.T, name string) {
	t.Helper()
	broken := forbidUntilFixed()
	failedTo := t.TempDir()
	if err := os.WriteFile(filepath.Join(failedTo, name), []byte("parked last week"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := daemontest.Start(t, memTargetYAML, "failed_to: "+failedTo)
	content := []byte("today's scan, refused")
	h.WriteFile(t, name, content)
	h.WaitFailed(t, name)
	daemontest.Eventually(t, "the file parked under a free name", func() bool {
		ents, err := os.ReadDir(failedTo)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if e.Name() != name && !strings.HasSuffix(e.Name(), ".txt") && readFile(t, filepath.Join(failedTo, e.Name())) == string(content) {
				return !exists(filepath.Join(h.Inbox, name))
			}
		}
		return false
	})
	broken.Store(false)
	if n := h.RetryFailed(t); n != 1 {
		t.Fatalf("retried %d", n)
	}
	h.WaitDelivered(t, name, sha256hex(content))
}

// two long names that differ only past their first 245 bytes
// (a scanner's "<long title> - page 1.pdf", "… - page 2.pdf") get the same
// note name (noteName: Fit cuts both to the same 245 bytes). The second
// note is written under a free name, which restoreFailed never looks at
// (it tries noteName(parked name) only, which is the first file's note):
// after `queue retry` delivers both, failed_to keeps an .error.txt saying
// the second file failed.
func TestRetryOfTwoLongNamesLeavesNoNote(t *testing.T) {
	broken := forbidUntilFixed()
	failedTo := t.TempDir()
	h := daemontest.Start(t, memTargetYAML, "failed_to: "+failedTo)
	a, b := strings.Repeat("n", 249)+"a.pdf", strings.Repeat("n", 249)+"b.pdf" // 254 bytes each
	notes := func() []string {
		ents, err := os.ReadDir(failedTo)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".txt") {
				out = append(out, e.Name())
			}
		}
		return out
	}
	h.WriteFile(t, a, []byte("page 1"))
	h.WaitFailed(t, a)
	daemontest.Eventually(t, "the first note", func() bool { return len(notes()) == 1 })
	h.WriteFile(t, b, []byte("page 2"))
	h.WaitFailed(t, b)
	daemontest.Eventually(t, "the second note", func() bool { return len(notes()) == 2 })
	broken.Store(false)
	if n := h.RetryFailed(t); n != 2 {
		t.Fatalf("retried %d", n)
	}
	h.WaitDelivered(t, a, sha256hex([]byte("page 1")))
	h.WaitDelivered(t, b, sha256hex([]byte("page 2")))
	if left := notes(); len(left) != 0 {
		var text []string
		for _, n := range left {
			text = append(text, readFile(t, filepath.Join(failedTo, n))[:20]+"…")
		}
		t.Fatalf("both files delivered, yet failed_to keeps %d error note(s): %q", len(left), text)
	}
}
