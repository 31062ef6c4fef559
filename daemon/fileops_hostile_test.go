//go:build linux

package daemon_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dropsync/dropsync/daemon"
	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/internal/safefs"
	"github.com/dropsync/dropsync/targets"
)

// Hostile cases of after_upload and failed_to: a file or its folder
// changed by someone else at the worst moment.

// waitCh waits for ch (a step hook's signal), failing after d.
func waitCh(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// The file is rewritten in place (same size, mtime set back, as rsync
// --inplace -t or cp -p do) after the record is synced and before the
// lease is taken; only the change time says it changed. after_upload
// delete must not delete content that was never sent.
func TestRewriteBeforeTheLeaseIsNotDeletedUnsent(t *testing.T) {
	mem.reset()
	h := daemontest.Start(t, memTargetYAML, "after_upload: delete")
	p := filepath.Join(h.Inbox, "doc.txt")
	first, second := []byte("AAAAAAAAAAAAAAAA first"), []byte("BBBBBBBBBBBBBBBB other")
	var once sync.Once
	rewritten := make(chan struct{})
	daemon.SetStepHook(func(step string) {
		if step != "synced" {
			return
		}
		once.Do(func() {
			defer close(rewritten)
			fi, err := os.Stat(p)
			if err != nil {
				t.Error(err)
				return
			}
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				t.Error(err)
				return
			}
			f.WriteAt(second, 0)
			f.Close()
			if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
				t.Error(err)
			}
		})
	})
	t.Cleanup(func() { daemon.SetStepHook(nil) })
	h.WriteFile(t, "doc.txt", first)
	waitCh(t, rewritten, "the after_upload attempt")
	h.WaitIdle(t) // the job is leased from the hook until its outcome is recorded
	if !exists(p) && !slices.Contains(mem.versions("doc.txt"), sha256hex(second)) {
		t.Fatalf("after_upload delete removed doc.txt whose rewritten content was never sent (server holds %d version(s), none of them the rewrite)", len(mem.versions("doc.txt")))
	}
}

// The file's folder is moved out of the watch (same file system) while
// after_upload runs: the daemon must not delete a file that no longer lies
// below its watch.
func TestAfterUploadDeleteStaysInsideTheWatch(t *testing.T) {
	mem.reset()
	h := daemontest.Start(t, memTargetYAML, "after_upload: delete")
	archive := filepath.Join(filepath.Dir(h.Inbox), "archive") // outside the watch, same file system
	var once sync.Once
	moved := make(chan struct{})
	daemon.SetStepHook(func(step string) {
		if step != "synced" {
			return
		}
		once.Do(func() {
			defer close(moved)
			if err := os.Rename(filepath.Join(h.Inbox, "sub"), archive); err != nil {
				t.Error(err)
			}
		})
	})
	t.Cleanup(func() { daemon.SetStepHook(nil) })
	h.WriteFile(t, "sub/keep.pdf", []byte("the user archived this folder"))
	waitCh(t, moved, "the after_upload attempt")
	h.WaitIdle(t)
	if !exists(filepath.Join(archive, "keep.pdf")) {
		t.Fatal("after_upload delete removed archive/keep.pdf, a file outside the watch (its folder was moved out of the watch)")
	}
}

// replaceOnFinal saves a new version of a file (atomic rename over it) when
// the daemon reports its upload failed for good, before failed_to runs.
type replaceOnFinal struct {
	daemon.Observers
	h    atomic.Pointer[daemontest.Harness]
	t    *testing.T
	data []byte
	once sync.Once
}

func (r *replaceOnFinal) Failed(f daemon.Failure) {
	if f.Final {
		r.once.Do(func() { r.h.Load().WriteFile(r.t, f.Rel, r.data) })
	}
}

// A file that fails permanently is replaced (atomic save of a new
// version under the same name) between the failure being recorded and
// failed_to parking it: the new file, never tried, must not be parked in
// its place (where queue retry does not find it either).
func TestFailedToParksOnlyTheFileThatFailed(t *testing.T) {
	mem.reset()
	failedTo := t.TempDir()
	var tries atomic.Int32
	second := []byte("the corrected scan, a different and longer file")
	mem.fail = func(rel string) error {
		if tries.Add(1) == 1 {
			return &targets.Error{Kind: targets.Permanent, Op: "test: upload", Status: 415, Msg: "unsupported type"}
		}
		return nil
	}
	obs := &replaceOnFinal{t: t, data: second}
	h := daemontest.StartObserved(t, obs, memTargetYAML, "settle: 1s\nfailed_to: "+failedTo)
	obs.h.Store(h)
	h.WriteFile(t, "scan.pdf", []byte("first scan"))
	h.WaitFailed(t, "scan.pdf")
	// The new version is sent, not parked: it was saved after the attempt
	// that failed and has not been tried.
	daemontest.Eventually(t, "the new version delivered", func() bool { got, _ := mem.get("scan.pdf"); return got == sha256hex(second) })
	h.WaitIdle(t)
	if exists(filepath.Join(failedTo, "scan.pdf")) {
		parked, _ := os.ReadFile(filepath.Join(failedTo, "scan.pdf"))
		t.Fatalf("failed_to/scan.pdf holds %q", parked)
	}
}

// failed_to holds x.error.txt (a parked file that itself failed);
// then x fails and is parked: its note "x.error.txt" must not delete the
// parked file of that name.
func TestErrorNoteNeverDeletesAParkedFile(t *testing.T) {
	mem.reset()
	failedTo := t.TempDir()
	mem.fail = func(string) error {
		return &targets.Error{Kind: targets.Permanent, Op: "test: upload", Status: 403, Msg: "forbidden"}
	}
	h := daemontest.Start(t, memTargetYAML, "failed_to: "+failedTo)
	h.WriteFile(t, "x.error.txt", []byte("a user's file that failed first"))
	daemontest.Eventually(t, "x.error.txt parked", func() bool { return exists(filepath.Join(failedTo, "x.error.txt.error.txt")) })
	h.WriteFile(t, "x", []byte("another file that fails"))
	daemontest.Eventually(t, "x parked", func() bool { return exists(filepath.Join(failedTo, "x")) })
	h.WaitIdle(t)
	got, err := os.ReadFile(filepath.Join(failedTo, "x.error.txt"))
	if err != nil || string(got) == "" || string(got)[:6] == "file: " {
		t.Fatalf("the parked file failed_to/x.error.txt was deleted to make room for x's note: now %q (err %v)", got, err)
	}
}

// stagedAtCrash delivers x with after_upload delete, holds the action off
// with a reader, stops the daemon and stages x as a daemon killed between
// staging and the action would have left it.
func stagedAtCrash(t *testing.T, content []byte) *daemontest.Harness {
	t.Helper()
	h := daemontest.Start(t, memTargetYAML, "after_upload: delete")
	tmp := filepath.Join(filepath.Dir(h.Inbox), "x.writing")
	if err := os.WriteFile(tmp, content, 0o600); err != nil {
		t.Fatal(err)
	}
	reader, err := os.Open(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(h.Inbox, "x")); err != nil {
		t.Fatal(err)
	}
	h.WaitDelivered(t, "x", sha256hex(content))
	daemontest.Eventually(t, "after_upload held off by the reader", func() bool {
		js, _ := h.Queue().Jobs(t.Context(), "", "x", 1)
		return len(js) > 0 && js[0].LastError != "" &&
			strings.Contains(js[0].LastError, "still has the file open")
	})
	h.Stop()
	reader.Close()
	if err := os.Rename(filepath.Join(h.Inbox, "x"), filepath.Join(h.Inbox, ".dropsync-stage.x")); err != nil {
		t.Fatal(err)
	}
	return h
}

func memYAML(after string) string {
	return "state_dir: {{state}}\nworkers: 4\nshutdown_timeout: 5s\nretry: {initial: 20ms, max: 200ms}\n" +
		"targets:\n  t:\n    type: test-memory\n    url: http://127.0.0.1:1\n" +
		"watches:\n  - path: {{inbox}}\n    target: t\n    settle: 100ms\n    after_upload: " + after + "\n"
}

// Crash at "staged"; the operator switches after_upload to keep before the
// restart. The file comes back to its name; it stayed hidden under the
// staging name (which the daemon itself never lists).
func TestStagedFileComesBackWhenAfterUploadBecomesKeep(t *testing.T) {
	mem.reset()
	h := stagedAtCrash(t, []byte("delivered, then the daemon crashed"))
	h.RestartYAML(t, memYAML("keep"))
	h.WriteFile(t, "later.txt", []byte("l"))
	h.WaitDelivered(t, "later.txt", "")
	h.WaitIdle(t)
	if !exists(filepath.Join(h.Inbox, "x")) {
		t.Fatalf("with after_upload keep, x stays hidden as .dropsync-stage.x (exists: %v) for good", exists(filepath.Join(h.Inbox, ".dropsync-stage.x")))
	}
}

// Crash at "staged"; a new file of the same name is dropped before the
// restart. The old, already delivered content is not uploaded a second
// time (it was, as "x (2)").
func TestStagedFileIsNotUploadedTwice(t *testing.T) {
	mem.reset()
	old := []byte("delivered, then the daemon crashed")
	h := stagedAtCrash(t, old)
	h.WriteFile(t, "x", []byte("a new file under the same name"))
	h.Restart(t)
	h.WaitDelivered(t, "x", sha256hex([]byte("a new file under the same name")))
	daemontest.Eventually(t, "the inbox emptied by after_upload delete", func() bool {
		ents, err := os.ReadDir(h.Inbox)
		return err == nil && len(ents) == 0
	})
	h.WaitIdle(t)
	uploadedOnce(t, h.Inbox, sha256hex(old))
}

// "{dir}/.ready": the producer drops batch 2 and writes .ready again while
// batch 1's last upload is still running. Batch 1's delivery removed
// .ready (no job of the folder was in the queue: batch 2 was still
// settling in the watcher), and batch 2, released by a marker that was
// gone when it settled, waited for a marker that never came.
func TestFolderMarkerOfTheNextBatchIsNotRemoved(t *testing.T) {
	mem.reset()
	old := daemontest.Timeout
	daemontest.Timeout = 15 * time.Second
	t.Cleanup(func() { daemontest.Timeout = old })
	block := make(chan struct{})
	mem.mu.Lock()
	mem.block = block
	mem.mu.Unlock()
	h := daemontest.Start(t, memTargetYAML, "settle: 1s\nready_marker: \"{dir}/.ready\"")
	h.WriteFile(t, "sub/one.pdf", []byte("batch 1"))
	h.WriteFile(t, "sub/.ready", nil)
	daemontest.Eventually(t, "batch 1 uploading", func() bool { a, _ := mem.running(); return a == 1 })
	h.WriteFile(t, "sub/two.pdf", []byte("batch 2"))
	h.WriteFile(t, "sub/.ready", nil) // batch 2 is complete
	mem.mu.Lock()
	mem.block = nil
	mem.mu.Unlock()
	close(block)
	h.WaitDelivered(t, "sub/one.pdf", sha256hex([]byte("batch 1")))
	h.WaitDelivered(t, "sub/two.pdf", sha256hex([]byte("batch 2")))
}

// failed_to on another file system (tmpfs) than the watch: park moves the
// failed file with safefs.Move, which copies it (opening the name) and
// then removes the source BY NAME. A new version saved at the name
// (atomic rename, as every editor does) while the copy runs is the file
// removed: the copy in failed_to is the old one (size and mtime match the
// job, so park's swap check passes), and the new version is gone
// everywhere, never uploaded. The test saves the new version when the
// copy's temporary file appears in failed_to (inotify), no sleep.
func TestFailedToAcrossFileSystemsNeverRemovesANewVersion(t *testing.T) {
	mem.reset()
	failedTo := otherFileSystem(t)
	mem.fail = func(rel string) error {
		if rel == "big.bin" {
			return &targets.Error{Kind: targets.Permanent, Op: "test: upload", Status: 415, Msg: "unsupported type"}
		}
		return nil
	}
	h := daemontest.Start(t, memTargetYAML, "failed_to: "+failedTo)
	newVersion := []byte("the corrected file, saved while failed_to copies the old one")
	saved := onCreated(t, failedTo, safefs.CopyPrefix, func() {
		tmp := filepath.Join(filepath.Dir(h.Inbox), "saving")
		if err := os.WriteFile(tmp, newVersion, 0o600); err != nil {
			t.Error(err)
			return
		}
		if err := os.Rename(tmp, filepath.Join(h.Inbox, "big.bin")); err != nil {
			t.Error(err)
		}
	})
	h.WriteFile(t, "big.bin", bytes.Repeat([]byte("old failing content "), 96<<20/20))
	h.WaitFailed(t, "big.bin")
	waitCh(t, saved, "the copy to failed_to")
	daemontest.Eventually(t, "the old file parked", func() bool { return exists(filepath.Join(failedTo, "big.bin.error.txt")) })
	h.WaitIdle(t)
	if got, _ := os.ReadFile(filepath.Join(h.Inbox, "big.bin")); bytes.Equal(got, newVersion) {
		return
	}
	if got, _ := mem.get("big.bin"); got == sha256hex(newVersion) {
		return
	}
	ents, _ := os.ReadDir(failedTo)
	for _, e := range ents {
		if b, _ := os.ReadFile(filepath.Join(failedTo, e.Name())); bytes.Equal(b, newVersion) {
			return
		}
		t.Logf("failed_to: %q", e.Name())
	}
	ents, _ = os.ReadDir(h.Inbox)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	t.Fatalf("the new version saved during the failed_to copy is lost: not in the inbox (holds %q), not in failed_to, not on the server", strings.Join(names, ", "))
}

// after_upload move to another file system (move_to on tmpfs): the staged
// file is copied from its handle, and the source is then removed through
// the folder's descriptor. stillInWatch was checked only before the copy;
// a folder moved out of the watch while the copy runs (the user archives
// it) lost its file there. It is checked again right before the removal:
// the file stays in archive/. The test moves the folder when the copy's
// temporary file appears in move_to (inotify), no sleep.
func TestAfterUploadMoveAcrossFileSystemsStaysInsideTheWatch(t *testing.T) {
	mem.reset()
	moveTo := otherFileSystem(t)
	if err := os.Mkdir(filepath.Join(moveTo, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	h := daemontest.Start(t, memTargetYAML, "after_upload: move\nmove_to: "+moveTo)
	archive := filepath.Join(filepath.Dir(h.Inbox), "archive") // outside the watch, same file system
	moved := onCreated(t, filepath.Join(moveTo, "sub"), safefs.CopyPrefix, func() {
		if err := os.Rename(filepath.Join(h.Inbox, "sub"), archive); err != nil {
			t.Error(err)
		}
	})
	content := bytes.Repeat([]byte("the user archives this folder "), 96<<20/30)
	h.WriteFile(t, "sub/keep.pdf", content)
	h.WaitDelivered(t, "sub/keep.pdf", sha256hex(content))
	waitCh(t, moved, "the copy to move_to")
	h.WaitIdle(t)
	ents, _ := os.ReadDir(archive)
	if len(ents) == 0 {
		_, inMoveTo := os.Stat(filepath.Join(moveTo, "sub", "keep.pdf"))
		t.Fatalf("the daemon deleted the file from archive/, outside the watch (its folder was moved out during the copy to move_to); move_to/sub/keep.pdf stat: %v", inMoveTo)
	}
}

// Crash at "staged" in a sub-folder with after_upload move to another file
// system; a new x is dropped before the restart. finishStaged moves the
// delivered, staged file with no stillInWatch check at all: the user moves
// the folder out of the watch while the copy runs, and the daemon removes
// the staged file from archive/, outside the watch.
func TestFinishStagedStaysInsideTheWatch(t *testing.T) {
	mem.reset()
	moveTo := otherFileSystem(t)
	if err := os.Mkdir(filepath.Join(moveTo, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	h := daemontest.Start(t, memTargetYAML, "after_upload: move\nmove_to: "+moveTo)
	old := bytes.Repeat([]byte("delivered, then the daemon crashed "), 96<<20/35)
	tmp := filepath.Join(filepath.Dir(h.Inbox), "x.writing")
	if err := os.WriteFile(tmp, old, 0o600); err != nil {
		t.Fatal(err)
	}
	reader, err := os.Open(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(h.Inbox, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(h.Inbox, "sub", "x")); err != nil {
		t.Fatal(err)
	}
	h.WaitDelivered(t, "sub/x", sha256hex(old))
	daemontest.Eventually(t, "after_upload held off by the reader", func() bool {
		js, _ := h.Queue().Jobs(t.Context(), "", "sub/x", 1)
		return len(js) > 0 && strings.Contains(js[0].LastError, "still has the file open")
	})
	h.Stop()
	reader.Close()
	if err := os.Rename(filepath.Join(h.Inbox, "sub", "x"), filepath.Join(h.Inbox, "sub", ".dropsync-stage.x")); err != nil {
		t.Fatal(err)
	}
	h.WriteFile(t, "sub/x", []byte("a new file under the same name"))
	archive := filepath.Join(filepath.Dir(h.Inbox), "archive") // outside the watch, same file system
	moved := onCreated(t, filepath.Join(moveTo, "sub"), safefs.CopyPrefix, func() {
		if err := os.Rename(filepath.Join(h.Inbox, "sub"), archive); err != nil {
			t.Error(err)
		}
	})
	h.Restart(t)
	waitCh(t, moved, "the copy to move_to")
	daemontest.Eventually(t, "the copy in move_to", func() bool { return exists(filepath.Join(moveTo, "sub", "x")) })
	h.WaitIdle(t)
	if !exists(filepath.Join(archive, ".dropsync-stage.x")) && !exists(filepath.Join(archive, "x (2)")) {
		ents, _ := os.ReadDir(archive)
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("finishStaged deleted the staged file from archive/, outside the watch (the folder was moved out during the copy); archive holds %q", names)
	}
}

// Crash at "staged"; a new file of the same name is dropped; the operator
// switches after_upload to keep before the restart. finishAfterUpload's
// keep branch puts the staged (already delivered) file back under a free
// name, "x (2)", where the watcher finds it as a new file: the delivered
// content is uploaded a second time, as a second remote object.
func TestKeepAfterCrashDoesNotUploadStagedFileTwice(t *testing.T) {
	mem.reset()
	old := []byte("delivered, then the daemon crashed")
	h := stagedAtCrash(t, old)
	h.WriteFile(t, "x", []byte("a new file under the same name"))
	h.RestartYAML(t, memYAML("keep"))
	h.WaitDelivered(t, "x", sha256hex([]byte("a new file under the same name")))
	h.WriteFile(t, "later.txt", []byte("l"))
	h.WaitDelivered(t, "later.txt", "")
	h.WaitIdle(t)
	uploadedOnce(t, h.Inbox, sha256hex(old))
}

// uploadedOnce fails the test unless the server holds content sha once:
// under any name (uploadsOf), and under x or "x (2)".
func uploadedOnce(t *testing.T, inbox, sha string) {
	t.Helper()
	if n, where := uploadsOf(sha); n != 1 {
		t.Fatalf("the already delivered content was uploaded %d times, as %q", n, where)
	}
	n := 0
	for _, rel := range []string{"x", "x (2)"} {
		for _, v := range mem.versions(rel) {
			if v == sha {
				n++
			}
		}
	}
	if n != 1 {
		var names []string
		ents, _ := os.ReadDir(inbox)
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("the already delivered content was uploaded %d times (x: %d versions, \"x (2)\": %d versions); the inbox holds %q",
			n, len(mem.versions("x")), len(mem.versions("x (2)")), names)
	}
}

// uploadsOf counts the versions with content sha the server holds, under
// any name (x, "x (2)", a daemon-private name the watcher took for a file).
func uploadsOf(sha string) (n int, where []string) {
	mem.mu.Lock()
	defer mem.mu.Unlock()
	for rel, vs := range mem.vers {
		for _, v := range vs {
			if v == sha {
				n++
				where = append(where, rel)
			}
		}
	}
	return n, where
}

// Crash at "staged" with after_upload move; a new x is dropped before the
// restart, and move_to is unusable at that moment (full, unmounted, a
// file in its place). finishStaged's move of the delivered, staged x fails
// ("it stays staged") and is never tried again: the next after_upload of
// the new x finds the staging name taken and puts the staged file back as
// "x (2)", where it is queued as a new file: the delivered content is
// uploaded a second time once move_to works again.
func TestStagedFileIsNotUploadedTwiceWhenMoveToFailedOnce(t *testing.T) {
	mem.reset()
	moveTo := filepath.Join(t.TempDir(), "moved")
	h := daemontest.Start(t, memTargetYAML, "after_upload: move\nmove_to: "+moveTo)
	old := []byte("delivered, then the daemon crashed")
	tmp := filepath.Join(filepath.Dir(h.Inbox), "x.writing")
	if err := os.WriteFile(tmp, old, 0o600); err != nil {
		t.Fatal(err)
	}
	reader, err := os.Open(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(h.Inbox, "x")); err != nil {
		t.Fatal(err)
	}
	h.WaitDelivered(t, "x", sha256hex(old))
	daemontest.Eventually(t, "after_upload held off by the reader", func() bool {
		js, _ := h.Queue().Jobs(t.Context(), "", "x", 1)
		return len(js) > 0 && strings.Contains(js[0].LastError, "still has the file open")
	})
	h.Stop()
	reader.Close()
	if err := os.Rename(filepath.Join(h.Inbox, "x"), filepath.Join(h.Inbox, ".dropsync-stage.x")); err != nil {
		t.Fatal(err)
	}
	newer := []byte("a new file under the same name")
	h.WriteFile(t, "x", newer)
	if err := os.WriteFile(moveTo, []byte("move_to is unusable for now"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.Restart(t)
	h.WaitDelivered(t, "x", sha256hex(newer))
	daemontest.Eventually(t, "the next after_upload of x", func() bool {
		js, _ := h.Queue().Jobs(t.Context(), "", "x", 1)
		return len(js) > 0 && strings.Contains(js[0].LastError, "after_upload") && strings.Contains(js[0].LastError, "not a directory") ||
			exists(filepath.Join(h.Inbox, "x (2)"))
	})
	if err := os.Remove(moveTo); err != nil { // move_to works again
		t.Fatal(err)
	}
	daemontest.Eventually(t, "the inbox emptied by after_upload move", func() bool {
		ents, err := os.ReadDir(h.Inbox)
		return err == nil && len(ents) == 0
	})
	h.WaitIdle(t)
	uploadedOnce(t, h.Inbox, sha256hex(old))
}

// park checks that the file at the name is the one that failed (fstat
// fingerprint), closes it, records the move, and then moves whatever is
// at the name; a file swapped in meanwhile is told only by size and mtime.
// A new version of the same size whose mtime was kept (cp -p, rsync -t, a
// scanner's fixed-size output restored with its time) is parked as the
// failed file: never tried, out of the watch, recorded as moved away, with
// an error note that is not its own.
func TestFailedToDoesNotParkAnUntriedSameSizeFile(t *testing.T) {
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

// onCreated runs act once, in a goroutine, when a name containing part is
// created in dir (inotify, watched from now on); the channel closes when
// act has run or the watch failed.
func onCreated(t *testing.T, dir, part string, act func()) <-chan struct{} {
	t.Helper()
	ifd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unix.InotifyAddWatch(ifd, dir, unix.IN_CREATE); err != nil {
		unix.Close(ifd)
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer unix.Close(ifd)
		buf := make([]byte, 4096)
		for {
			n, err := unix.Read(ifd, buf)
			if err != nil {
				t.Error(err)
				return
			}
			if bytes.Contains(buf[:n], []byte(part)) {
				act()
				return
			}
		}
	}()
	return done
}

// otherFileSystem returns a new folder on another file system than the
// test's temporary folders (tmpfs /dev/shm), removed at the end, or skips
// the test.
func otherFileSystem(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "dropsync-test-")
	if err != nil {
		t.Skip("no /dev/shm:", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	var st1, st2 unix.Statfs_t
	if unix.Statfs(dir, &st1) != nil || unix.Statfs(t.TempDir(), &st2) != nil || st1.Type == st2.Type {
		t.Skip("needs /dev/shm on another file system than the temporary folders")
	}
	return dir
}
