//go:build linux

package daemon_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/targets"
)

// TestFailedToNoteOfALongNameIsWritten: README/DESIGN: with failed_to, a
// permanently failed file is moved there "with a .error.txt beside it".
// A Linux file name may be 255 bytes (NAME_MAX); the note's name is the
// parked name plus ".error.txt" (park: createFree(dst, used+".error.txt")),
// which for a name over 245 bytes is longer than any file system takes:
// the create fails with ENAMETOOLONG, only "cannot write error note" is
// logged, and the parked file has no note saying why it failed. Whoever
// names the dropped file decides whether the operator gets the reason.
func TestFailedToNoteOfALongNameIsWritten(t *testing.T) {
	mem.reset()
	failedTo := t.TempDir()
	mem.fail = func(string) error {
		return &targets.Error{Kind: targets.Permanent, Op: "test: upload", Status: 415, Msg: "unsupported type"}
	}
	h := daemontest.Start(t, memTargetYAML, "failed_to: "+failedTo)
	name := strings.Repeat("n", 250) + ".pdf" // 254 bytes: a valid name
	h.WriteFile(t, name, []byte("a scan the server refuses"))
	h.WaitFailed(t, name)
	daemontest.Eventually(t, "the file parked", func() bool { return exists(filepath.Join(failedTo, name)) })
	noted := func() bool { // the note follows the park
		ents, err := os.ReadDir(failedTo)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if e.Name() == name {
				continue
			}
			if b, err := os.ReadFile(filepath.Join(failedTo, e.Name())); err == nil && strings.HasPrefix(string(b), "file: "+name+"\n") {
				return len(e.Name()) <= 255 // a note, under whatever name fits
			}
		}
		return false
	}
	daemontest.Eventually(t, "an .error.txt note beside the parked file", noted)
}

// TestAfterUploadMoveOfALongNameFindsAFreeName: after_upload: move never
// overwrites in move_to; a taken name is replaced by a free one,
// "name (2).ext" (safefs.FreeName). For a 254-byte name, the free name is
// 258 bytes, which no file system takes: every candidate fails with
// ENAMETOOLONG, the move fails again at every scan, and the delivered file
// never leaves the watch (after_upload reports it failed forever).
func TestAfterUploadMoveOfALongNameFindsAFreeName(t *testing.T) {
	mem.reset()
	moveTo := t.TempDir()
	name := strings.Repeat("m", 250) + ".pdf" // 254 bytes: a valid name
	if err := os.WriteFile(filepath.Join(moveTo, name), []byte("delivered yesterday"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := daemontest.Start(t, memTargetYAML, "after_upload: move\nmove_to: "+moveTo)
	h.WaitDelivered(t, name, h.WriteRandom(t, name, 100))
	moved := func() bool {
		ents, err := os.ReadDir(moveTo)
		return err == nil && len(ents) == 2
	}
	// With the defect, every attempt fails with ENAMETOOLONG ("after_upload
	// move failed; trying again") until the deadline.
	daemontest.Eventually(t, "the delivered file in move_to beside the earlier one, under a free name", moved)
}
