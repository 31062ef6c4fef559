package queue_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dropsync/dropsync/queue"
)

// A recorded after_upload failure goes with its file's record: once the
// file is forgotten (it left the watch for retention.forgotten_state),
// nothing will try its action again, and status must not list it forever.
func TestPruneRemovesAfterUploadFailuresOfForgottenFiles(t *testing.T) {
	q, _ := open(t)
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	q.SetClock(func() time.Time { return now })
	for _, rel := range []string{"kept.txt", "gone.txt"} {
		deliver(t, q, rel, "r-"+rel)
		if err := q.AfterUploadFailed(ctx, "/w", rel, "move", "permission denied"); err != nil {
			t.Fatal(err)
		}
	}
	pol := queue.Retention{Done: time.Hour, Failed: time.Hour, ForgottenState: time.Hour,
		Forgettable: func(s queue.StateRef) bool { return s.Rel == "gone.txt" }}
	for range 2 {
		now = now.Add(2 * time.Hour)
		if _, err := q.Prune(ctx, pol); err != nil {
			t.Fatal(err)
		}
	}
	if st, _ := q.FileState(ctx, "/w", "gone.txt"); st != nil {
		t.Fatal("gone.txt's record was not forgotten")
	}
	n, fs, err := q.AfterUploadFailures(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 || len(fs) != 1 || fs[0].Rel != "kept.txt" {
		t.Fatalf("after_upload failures after the prune: %d %+v, want only kept.txt's", n, fs)
	}
}

// The per-kind attempts of a job that was delivered in the end are
// removed by the retention pass: they served only while the job was
// active, and without failures elsewhere nothing else removed them.
func TestPruneRemovesAttemptsOfFinishedJobs(t *testing.T) {
	q, _ := open(t)
	ctx := context.Background()
	j := claimWithAmbiguousSend(t, q)
	if _, err := q.Complete(ctx, j, queue.Outcome{Delivered: &queue.FileState{FP: j.FP, SHA256: "x"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Prune(ctx, queue.Retention{Done: time.Hour, Failed: time.Hour, ForgottenState: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if n, err := q.Attempts(ctx, j, j.FP, "ambiguous"); err != nil || n != 0 {
		t.Fatalf("attempts of a delivered job after the prune: %d %v", n, err)
	}
}

// Telling the daemon of a change never writes through a link planted in
// the state directory: `queue retry` often runs as root, the daemon as a
// service account that owns state_dir/notify.
func TestNotifyDoesNotWriteThroughALink(t *testing.T) {
	q, dir := open(t)
	ctx := context.Background()
	if _, err := q.Changes(ctx); err != nil { // a daemon ran here: notify/ exists
		t.Fatal(err)
	}
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(dir, "notify", "changed")); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Enqueue(ctx, []queue.Item{item("a.txt", 1)}); err != nil {
		t.Fatal(err)
	}
	q.Fail(ctx, claim(t, q), "no")
	if n, err := q.RetryFailed(ctx); err != nil || n != 1 {
		t.Fatalf("retry: %d %v", n, err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Fatalf("the file behind the link was overwritten: %q", b)
	}
}
