package daemon_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/targets"
)

const memTargetYAML = "type: test-memory\nurl: http://127.0.0.1:1\n"

func TestManyFilesArriveWithMatchingHashes(t *testing.T) {
	mem.reset()
	h := daemontest.Start(t, memTargetYAML, "")
	want := map[string]string{}
	for i := range 60 {
		rel := fmt.Sprintf("batch/file %d ünï.txt", i)
		if i%3 == 0 {
			rel = fmt.Sprintf("deep/a/b/c/d/%d.bin", i)
		}
		want[rel] = h.WriteRandom(t, rel, int64(100+i*37))
	}
	for rel, sha := range want {
		h.WaitDelivered(t, rel, sha)
		got, puts := mem.get(rel)
		if got != sha || puts != 1 {
			t.Errorf("%s: remote sha %s after %d puts, want %s after 1", rel, got, puts, sha)
		}
	}
}

func TestIgnoredAndExcludedFilesStayLocal(t *testing.T) {
	mem.reset()
	h := daemontest.Start(t, memTargetYAML, `exclude: ["**/skip/**"]`)
	h.WriteFile(t, "report.pdf.part", []byte("partial"))
	h.WriteFile(t, "~$draft.docx", []byte("lock"))
	h.WriteFile(t, "skip/x.txt", []byte("excluded"))
	sha := h.WriteRandom(t, "real.txt", 10)
	h.WaitDelivered(t, "real.txt", sha)
	h.WaitIdle(t)
	for _, rel := range []string{"report.pdf.part", "~$draft.docx", "skip/x.txt"} {
		if _, puts := mem.get(rel); puts != 0 {
			t.Errorf("%s was uploaded", rel)
		}
	}
}

func TestPermanentFailureIsReportedOnceAndMovedToFailedTo(t *testing.T) {
	mem.reset()
	failedTo := t.TempDir()
	mem.fail = func(string) error {
		return &targets.Error{Kind: targets.Permanent, Op: "test: upload", Status: 403, Msg: "Access denied to /Root/X"}
	}
	h := daemontest.Start(t, memTargetYAML, "failed_to: "+failedTo)
	h.WriteFile(t, "sub/bad.txt", []byte("no"))
	job := h.WaitFailed(t, "sub/bad.txt")
	if !strings.Contains(job.LastError, "Access denied to /Root/X") || job.Attempts != 1 {
		t.Fatalf("failed job = %+v, want the server's message after 1 attempt", job)
	}
	daemontest.Eventually(t, "the .error.txt note", func() bool {
		b, err := os.ReadFile(filepath.Join(failedTo, "sub", "bad.txt.error.txt"))
		return err == nil && strings.Contains(string(b), "Access denied")
	})
	if b, err := os.ReadFile(filepath.Join(failedTo, "sub", "bad.txt")); err != nil || string(b) != "no" {
		t.Fatalf("moved file: %q, %v", b, err)
	}
	if _, puts := mem.get("sub/bad.txt"); puts != 1 {
		t.Fatalf("puts = %d, want 1 (no retry loop)", puts)
	}
}

func TestRetryableFailureIsRetriedUntilDelivered(t *testing.T) {
	mem.reset()
	n := 0
	mem.fail = func(string) error {
		n++
		if n <= 3 {
			return &targets.Error{Kind: targets.Retryable, Op: "test: upload", Status: 503, Msg: "busy"}
		}
		return nil
	}
	h := daemontest.Start(t, memTargetYAML, "")
	sha := h.WriteRandom(t, "x.bin", 1000)
	h.WaitDelivered(t, "x.bin", sha)
	if _, puts := mem.get("x.bin"); puts != 4 {
		t.Fatalf("puts = %d, want 4", puts)
	}
}

func TestFileChangedDuringUploadIsSentAgain(t *testing.T) {
	mem.reset()
	block := make(chan struct{})
	mem.block = block
	h := daemontest.Start(t, memTargetYAML, "")
	h.WriteRandom(t, "grow.bin", 4096)
	daemontest.Eventually(t, "the upload to start", func() bool { _, p := mem.get("grow.bin"); return p == 1 })
	sha := h.WriteRandom(t, "grow.bin", 8192) // changed mid-upload
	mem.mu.Lock()
	mem.block = nil
	mem.mu.Unlock()
	close(block)
	st := h.WaitDelivered(t, "grow.bin", sha)
	if st.FP.Size != 8192 {
		t.Fatalf("recorded size %d", st.FP.Size)
	}
	if got, _ := mem.get("grow.bin"); got != sha {
		t.Fatal("remote holds stale content")
	}
}

func TestAfterUploadMoveKeepsRecordAndDoesNotPropagateDelete(t *testing.T) {
	mem.reset()
	moveTo := t.TempDir()
	h := daemontest.Start(t, memTargetYAML, "after_upload: move\nmove_to: "+moveTo+"\ndeletes: propagate")
	sha := h.WriteRandom(t, "a/done.txt", 64)
	h.WaitDelivered(t, "a/done.txt", sha)
	daemontest.Eventually(t, "the move", func() bool {
		_, err := os.Stat(filepath.Join(moveTo, "a", "done.txt"))
		return err == nil
	})
	h.WaitIdle(t)
	if st, _ := h.Queue().FileState(context.Background(), h.WatchPath(), "a/done.txt"); st == nil {
		t.Fatal("state forgotten after after_upload move")
	}
}

func TestRestartDoesNotUploadUnchangedFilesAgain(t *testing.T) {
	mem.reset()
	h := daemontest.Start(t, memTargetYAML, "")
	sha := h.WriteRandom(t, "keep.txt", 100)
	h.WaitDelivered(t, "keep.txt", sha)
	h.Restart(t)
	sha2 := h.WriteRandom(t, "new.txt", 100)
	h.WaitDelivered(t, "new.txt", sha2)
	h.WaitIdle(t)
	if _, puts := mem.get("keep.txt"); puts != 1 {
		t.Fatalf("keep.txt uploaded %d times", puts)
	}
	c, _ := h.Queue().Counts(context.Background())
	if c[queue.Failed] != 0 {
		t.Fatalf("counts %v", c)
	}
}

func TestAfterUploadDeleteRemovesTheLocalFile(t *testing.T) {
	mem.reset()
	h := daemontest.Start(t, memTargetYAML, "after_upload: delete")
	sha := h.WriteRandom(t, "sent.txt", 64)
	h.WaitDelivered(t, "sent.txt", sha)
	daemontest.Eventually(t, "the local delete", func() bool {
		_, err := os.Stat(filepath.Join(h.Inbox, "sent.txt"))
		return os.IsNotExist(err)
	})
}

// A stop lets an upload in flight finish within shutdown_timeout.
func TestStopDrainsUploadInFlight(t *testing.T) {
	mem.reset()
	block := make(chan struct{})
	mem.block = block
	h := daemontest.StartYAML(t, "state_dir: {{state}}\nshutdown_timeout: 30s\n"+
		"targets:\n  t:\n    type: test-memory\n    url: http://127.0.0.1:1\nwatches:\n  - path: {{inbox}}\n    target: t\n    settle: 100ms\n")
	sha := h.WriteRandom(t, "draining.bin", 4096)
	daemontest.Eventually(t, "the upload to start", func() bool { _, p := mem.get("draining.bin"); return p == 1 })
	stopped := h.StopAsync() // the stop has begun…
	close(block)             // …and then the upload finishes
	<-stopped
	q, err := queue.OpenExisting(context.Background(), h.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if st, _ := q.FileState(context.Background(), h.WatchPath(), "draining.bin"); st == nil || st.SHA256 != sha {
		t.Fatalf("state after drain: %+v", st)
	}
}

// Past shutdown_timeout the upload is interrupted and its job waits for the
// next start, without counting as an attempt.
func TestStopInterruptsUploadPastTheDeadline(t *testing.T) {
	mem.reset()
	mem.block = make(chan struct{}) // never released
	h := daemontest.StartYAML(t, "state_dir: {{state}}\nshutdown_timeout: 100ms\n"+
		"targets:\n  t:\n    type: test-memory\n    url: http://127.0.0.1:1\nwatches:\n  - path: {{inbox}}\n    target: t\n    settle: 100ms\n")
	h.WriteRandom(t, "stuck.bin", 4096)
	daemontest.Eventually(t, "the upload to start", func() bool { _, p := mem.get("stuck.bin"); return p == 1 })
	h.Stop()
	q, err := queue.OpenExisting(context.Background(), h.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	js, _ := q.Jobs(context.Background(), queue.Pending, "stuck.bin", 1)
	if len(js) != 1 || js[0].Attempts != 0 || js[0].LastError != "interrupted by shutdown" {
		t.Fatalf("jobs after the deadline: %+v", js)
	}
}

// A touched file (new mtime, same bytes; noticed by the reconcile scan,
// since a touch is only an attribute event) is not uploaded again; a
// changed one of the same size is.
func TestTouchedFileIsNotUploadedAgain(t *testing.T) {
	mem.reset()
	h := daemontest.StartYAML(t, "state_dir: {{state}}\nreconcile_interval: 1s\n"+
		"targets:\n  t:\n    type: test-memory\n    url: http://127.0.0.1:1\nwatches:\n  - path: {{inbox}}\n    target: t\n    settle: 100ms\n")
	p := filepath.Join(h.Inbox, "same.txt")
	h.WriteFile(t, "same.txt", []byte("version one"))
	first := h.WaitDelivered(t, "same.txt", "")
	later := time.Unix(0, first.FP.ModTime).Add(time.Hour)
	if err := os.Chtimes(p, later, later); err != nil {
		t.Fatal(err)
	}
	daemontest.Eventually(t, "the new mtime recorded", func() bool {
		st, _ := h.Queue().FileState(context.Background(), h.WatchPath(), "same.txt")
		return st != nil && st.FP.ModTime == later.UnixNano()
	})
	if _, puts := mem.get("same.txt"); puts != 1 {
		t.Fatalf("touched file uploaded again (%d puts)", puts)
	}
	h.WriteFile(t, "same.txt", []byte("version two")) // same size, new bytes
	h.WaitDelivered(t, "same.txt", sha256hex([]byte("version two")))
	if _, puts := mem.get("same.txt"); puts != 2 {
		t.Fatalf("changed file: %d puts, want 2", puts)
	}
}
