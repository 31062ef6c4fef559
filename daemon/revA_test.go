//go:build linux

package daemon_test

import (
	"bytes"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/targets"
)

// Findings of review revA: each test names the defect it demonstrates.

// "{dir}/.ready": batch 1 (a.pdf) keeps failing with a retryable error;
// meanwhile batch 2 (b.pdf) is dropped and .ready written again, and b.pdf
// is delivered (a.pdf's job keeps the marker). When a.pdf is finally
// delivered, it is the folder's last job, but markerNewer compares the
// marker with a.pdf's own queue time, which is older than batch 2's
// marker: the marker is taken for a next batch's and stays for good,
// though both batches are delivered and nothing is queued. Every later
// file of the folder then goes without waiting for its batch's marker.
func TestRevAFolderMarkerGoesWhenAnOlderJobFinishesLast(t *testing.T) {
	mem.reset()
	var hold atomic.Bool
	hold.Store(true)
	mem.fail = func(rel string) error {
		if rel == "sub/a.pdf" && hold.Load() {
			return &targets.Error{Kind: targets.Retryable, Op: "test: upload", Status: 503, Msg: "busy"}
		}
		return nil
	}
	h := daemontest.Start(t, memTargetYAML, "ready_marker: \"{dir}/.ready\"")
	h.WriteFile(t, "sub/a.pdf", []byte("batch 1"))
	h.WriteFile(t, "sub/.ready", nil)
	daemontest.Eventually(t, "a.pdf tried", func() bool { _, n := mem.get("sub/a.pdf"); return n >= 1 })
	h.WriteFile(t, "sub/b.pdf", []byte("batch 2"))
	h.WriteFile(t, "sub/.ready", nil) // batch 2 is complete
	h.WaitDelivered(t, "sub/b.pdf", sha256hex([]byte("batch 2")))
	hold.Store(false)
	h.WaitDelivered(t, "sub/a.pdf", sha256hex([]byte("batch 1")))
	h.WaitIdle(t)
	if exists(filepath.Join(h.Inbox, "sub", ".ready")) {
		h.WriteFile(t, "sub/c.pdf", []byte("first file of batch 3, whose marker is not written yet"))
		h.WaitDelivered(t, "sub/c.pdf", "")
		t.Fatal("sub/.ready stays after both batches were delivered and nothing of the folder is queued; sub/c.pdf of batch 3 was then uploaded before its batch's marker")
	}
}

// park checks that the file at the name is the one that failed (fstat
// fingerprint), closes it, records the move, and then moves whatever is
// at the name; a file swapped in meanwhile is told only by size and mtime.
// A new version of the same size whose mtime was kept (cp -p, rsync -t, a
// scanner's fixed-size output restored with its time) is parked as the
// failed file: never tried, out of the watch, recorded as moved away, with
// an error note that is not its own.
func TestRevAFailedToDoesNotParkAnUntriedSameSizeFile(t *testing.T) {
	mem.reset()
	parent := t.TempDir()
	failedTo := filepath.Join(parent, "failed") // made by park, after its check
	first := []byte("scan v1 -- rejected by server!")
	second := []byte("scan v2 -- corrected, same len")
	if len(first) != len(second) {
		t.Fatal("test data: sizes differ")
	}
	var tries atomic.Int32
	mem.fail = func(rel string) error {
		if tries.Add(1) == 1 {
			return &targets.Error{Kind: targets.Permanent, Op: "test: upload", Status: 415, Msg: "unsupported type"}
		}
		return nil
	}
	ifd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unix.InotifyAddWatch(ifd, parent, unix.IN_CREATE); err != nil {
		t.Fatal(err)
	}
	h := daemontest.Start(t, memTargetYAML, "failed_to: "+failedTo)
	p := filepath.Join(h.Inbox, "scan.pdf")
	h.WriteFile(t, "scan.pdf", first)
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(filepath.Dir(h.Inbox), "saving")
	if err := os.WriteFile(tmp, second, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(tmp, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	swapped := make(chan struct{})
	go func() {
		defer close(swapped)
		defer unix.Close(ifd)
		buf := make([]byte, 4096)
		if _, err := unix.Read(ifd, buf); err != nil { // failed_to made: park checked the file
			t.Error(err)
			return
		}
		if err := os.Rename(tmp, p); err != nil {
			t.Error(err)
		}
	}()
	h.WaitFailed(t, "scan.pdf")
	waitCh(t, swapped, "the swap")
	daemontest.Eventually(t, "the new version parked or delivered", func() bool {
		got, _ := mem.get("scan.pdf")
		return exists(filepath.Join(failedTo, "scan.pdf.error.txt")) || got == sha256hex(second)
	})
	h.WaitIdle(t)
	parked, _ := os.ReadFile(filepath.Join(failedTo, "scan.pdf"))
	if bytes.Equal(parked, second) {
		t.Fatalf("the new version (never tried) was parked in failed_to as the file that failed; server holds %d version(s), inbox has it: %v", len(mem.versions("scan.pdf")), exists(p))
	}
}
