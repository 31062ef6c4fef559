package daemon_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dropsync/dropsync/daemon"
	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/targets"
)

// within polls cond every 10ms and fails the test when it does not hold
// within d: for promises of the form "within a few seconds".
func within(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within %s", what, d)
		}
		<-tick.C
	}
}

func delivered(t *testing.T, h *daemontest.Harness, watch, rel string) bool {
	t.Helper()
	s, err := h.Queue().FileState(context.Background(), watch, rel)
	if err != nil {
		t.Fatal(err)
	}
	return s != nil
}

// A watch root that is missing at start (a share not mounted yet) does
// not stop the daemon: the other watch delivers, and the missing one
// starts when its folder appears.
func TestMissingWatchRootAtStartWaits(t *testing.T) {
	mem.reset()
	later := filepath.Join(t.TempDir(), "share")
	h := daemontest.StartYAML(t, "state_dir: {{state}}\nretry: {initial: 20ms, max: 200ms}\ntargets:\n  t: {type: test-memory, url: http://127.0.0.1:1}\n"+
		"watches:\n  - {path: {{inbox}}, target: t, settle: 100ms}\n  - {path: "+later+", target: t, settle: 100ms}\n")
	h.WriteFile(t, "here.txt", []byte("here"))
	h.WaitDelivered(t, "here.txt", "")
	if err := h.Daemon().Health(context.Background()); err == nil || !strings.Contains(err.Error(), later) {
		t.Fatalf("health with a missing watch root: %v", err)
	}
	if err := os.Mkdir(later, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(later, "late.txt"), []byte("late"), 0o600); err != nil {
		t.Fatal(err)
	}
	within(t, 10*time.Second, "delivery from the watch whose folder appeared", func() bool { return delivered(t, h, later, "late.txt") })
	within(t, 5*time.Second, "health ok", func() bool { return h.Daemon().Health(context.Background()) == nil })
}

// An enqueue that fails (here: another process holds the database's write
// lock past the busy timeout) is retried: neither the new files nor the
// deletion of a delivered one wait for the hourly reconcile.
func TestFailedEnqueueIsRetried(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out the database's 10s busy timeout")
	}
	mem.reset()
	mdel.reset()
	h := daemontest.Start(t, "type: test-memdel\nurl: http://127.0.0.1:1\n", "deletes: propagate")
	h.WriteFile(t, "old.txt", []byte("old"))
	h.WaitDelivered(t, "old.txt", "")
	h.WaitIdle(t)

	db, err := sql.Open("sqlite3", "file:"+filepath.Join(h.StateDir, queue.FileName)+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		h.WriteFile(t, fmt.Sprintf("new%02d.txt", i), []byte{byte(i)})
	}
	h.Remove(t, "old.txt")
	within(t, 30*time.Second, "the watch reporting that it cannot queue", func() bool {
		err := h.Daemon().Health(context.Background())
		return err != nil && strings.Contains(err.Error(), "queue")
	})
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	freed := time.Now()
	within(t, 15*time.Second, "every file delivered after the lock went", func() bool {
		for i := range 30 {
			if !delivered(t, h, h.WatchPath(), fmt.Sprintf("new%02d.txt", i)) {
				return false
			}
		}
		return !delivered(t, h, h.WatchPath(), "old.txt")
	})
	t.Logf("delivered %s after the database was free again", time.Since(freed).Round(time.Millisecond))
	mdel.dmu.Lock()
	defer mdel.dmu.Unlock()
	if len(mdel.deleted) != 1 || mdel.deleted[0] != "old.txt" {
		t.Fatalf("remote deletions %v, want [old.txt]", mdel.deleted)
	}
}

// Completion markers through the daemon: a file goes only with its
// "{name}.done" marker, the marker is never uploaded and is removed after
// the delivery and its after_upload.
func TestReadyMarkerPerFile(t *testing.T) {
	mem.reset()
	moveTo := t.TempDir()
	h := daemontest.Start(t, "type: test-memory\nurl: http://127.0.0.1:1\n", "ready_marker: \"{name}.done\"\nafter_upload: move\nmove_to: "+moveTo)
	h.WriteFile(t, "a.pdf", []byte("a"))
	h.WriteFile(t, "b.pdf", []byte("b"))
	h.WriteFile(t, "b.pdf.done", nil)
	h.WaitDelivered(t, "b.pdf", "")
	// a.pdf settled no later than b.pdf: without its marker it is not queued.
	if js, err := h.Queue().Jobs(context.Background(), "", "a.pdf", 0); err != nil || len(js) != 0 {
		t.Fatalf("a.pdf queued without its marker: %v %v", js, err)
	}
	within(t, 5*time.Second, "b.pdf.done removed", func() bool {
		_, err := os.Stat(filepath.Join(h.Inbox, "b.pdf.done"))
		return os.IsNotExist(err)
	})
	h.WriteFile(t, "a.pdf.done", nil)
	h.WaitDelivered(t, "a.pdf", "")
	within(t, 5*time.Second, "a.pdf moved and its marker removed", func() bool {
		_, err1 := os.Stat(filepath.Join(moveTo, "a.pdf"))
		_, err2 := os.Stat(filepath.Join(h.Inbox, "a.pdf.done"))
		return err1 == nil && os.IsNotExist(err2)
	})
	for _, m := range []string{"a.pdf.done", "b.pdf.done"} {
		if _, puts := mem.get(m); puts != 0 {
			t.Fatalf("marker %s uploaded", m)
		}
	}
}

// A "{dir}/.ready" marker releases its whole folder and is removed once
// the folder's files are delivered; with ready_marker_keep it stays.
func TestReadyMarkerPerFolder(t *testing.T) {
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprintf("keep %v", keep), func(t *testing.T) {
			mem.reset()
			h := daemontest.StartYAML(t, "state_dir: {{state}}\nworkers: 1\nretry: {initial: 20ms, max: 200ms}\ntargets:\n  t: {type: test-memory, url: http://127.0.0.1:1}\n"+
				"watches:\n  - {path: {{inbox}}, target: t, settle: 100ms, order: name, ready_marker: \"{dir}/.ready\", ready_marker_keep: "+strconv.FormatBool(keep)+"}\n")
			h.WriteFile(t, "batch/1.pdf", []byte("1"))
			h.WriteFile(t, "batch/2.pdf", []byte("2"))
			h.WriteFile(t, "other/9.pdf", []byte("9"))
			h.WriteFile(t, "other/.ready", nil)
			h.WaitDelivered(t, "other/9.pdf", "")
			if js, _ := h.Queue().Jobs(context.Background(), "", "batch/1.pdf", 0); len(js) != 0 {
				t.Fatal("batch/1.pdf queued before its folder's marker")
			}
			h.WriteFile(t, "batch/.ready", nil)
			h.WaitDelivered(t, "batch/1.pdf", "")
			h.WaitDelivered(t, "batch/2.pdf", "")
			// One worker, in name order: z.pdf is delivered after batch/*
			// is completely handled, marker included.
			h.WriteFile(t, "z.pdf", []byte("z"))
			h.WriteFile(t, ".ready", nil)
			h.WaitDelivered(t, "z.pdf", "")
			_, err := os.Stat(filepath.Join(h.Inbox, "batch", ".ready"))
			if keep != (err == nil) {
				t.Fatalf("ready_marker_keep %v: batch/.ready stat: %v", keep, err)
			}
		})
	}
}

// min_age: a file waits until its mtime is that old.
func TestMinAgeHoldsYoungFiles(t *testing.T) {
	mem.reset()
	h := daemontest.Start(t, "type: test-memory\nurl: http://127.0.0.1:1\n", "min_age: 1s")
	h.WriteFile(t, "young.txt", []byte("y"))
	fi, err := os.Stat(filepath.Join(h.Inbox, "young.txt"))
	if err != nil {
		t.Fatal(err)
	}
	st := h.WaitDelivered(t, "young.txt", "")
	if age := st.DeliveredAt.Sub(fi.ModTime()); age < time.Second {
		t.Fatalf("delivered %s after its mtime, before min_age", age)
	}
}

// order: a backlog is claimed in the watch's order, oldest (mtime) or name.
func TestClaimOrderPerWatch(t *testing.T) {
	for _, tc := range []struct{ order, want string }{
		{"oldest", "b.txt,c.txt,a.txt"},
		{"name", "a.txt,b.txt,c.txt"},
	} {
		t.Run(tc.order, func(t *testing.T) {
			mem.reset()
			block := make(chan struct{})
			mem.block = block
			var seq []string
			mem.fail = func(rel string) error {
				seq = append(seq, rel) // one worker: no concurrent calls
				return nil
			}
			h := daemontest.StartYAML(t, "state_dir: {{state}}\nworkers: 1\nretry: {initial: 20ms, max: 200ms}\ntargets:\n  t: {type: test-memory, url: http://127.0.0.1:1}\n"+
				"watches:\n  - {path: {{inbox}}, target: t, settle: 100ms, order: "+tc.order+"}\n")
			h.WriteFile(t, "first.txt", []byte("first"))
			daemontest.Eventually(t, "the first upload to block", func() bool { _, p := mem.get("first.txt"); return p == 1 })
			now := time.Now()
			// Arrival order c, a, b: neither order's answer.
			for _, f := range []struct {
				name string
				age  time.Duration
			}{{"c.txt", time.Hour}, {"a.txt", time.Minute}, {"b.txt", 3 * time.Hour}} {
				name, age := f.name, f.age
				h.WriteFile(t, name, []byte(name))
				if err := os.Chtimes(filepath.Join(h.Inbox, name), now.Add(-age), now.Add(-age)); err != nil {
					t.Fatal(err)
				}
			}
			daemontest.Eventually(t, "the backlog", func() bool {
				c, _ := h.Queue().Counts(context.Background())
				return c[queue.Pending] == 3
			})
			mem.mu.Lock()
			mem.block = nil
			mem.mu.Unlock()
			close(block)
			h.WaitIdle(t)
			h.Stop()
			if got := strings.Join(seq[1:], ","); got != tc.want {
				t.Fatalf("order %s: uploads %s, want %s", tc.order, got, tc.want)
			}
		})
	}
}

// A worker takes its next job from its completion's own commit, but not
// once the daemon is stopping: the drain finishes what is in flight and
// leaves the backlog pending for the next start.
func TestStoppingWorkerTakesNoNextJob(t *testing.T) {
	h, block := startOneSlotBlocked(t, 3, false)
	stopped := h.StopAsync()
	close(block)
	<-stopped
	if sum, _ := mem.get("first.txt"); sum == "" {
		t.Fatal("the upload in flight was not finished by the drain")
	}
	for i := range 3 {
		if _, p := mem.get(fmt.Sprintf("f%02d.txt", i)); p != 0 {
			t.Errorf("f%02d.txt was uploaded after the stop began", i)
		}
	}
}

// startOneSlotBlocked starts a daemon with one worker whose upload of
// first.txt blocks until the returned channel is closed, and queues
// backlog small files behind it, f00.txt…; with ahead, it waits until two
// of them are claimed ahead of the slot.
func startOneSlotBlocked(t *testing.T, backlog int, ahead bool) (*daemontest.Harness, chan struct{}) {
	t.Helper()
	mem.reset()
	block := make(chan struct{})
	mem.block = block
	h := daemontest.StartYAML(t, "state_dir: {{state}}\nworkers: 1\ntargets:\n  t: {type: test-memory, url: http://127.0.0.1:1}\n"+
		"watches:\n  - {path: {{inbox}}, target: t, settle: 50ms}\n")
	h.WriteFile(t, "first.txt", []byte("first"))
	daemontest.Eventually(t, "the first upload to block", func() bool { _, p := mem.get("first.txt"); return p == 1 })
	for i := range backlog {
		h.WriteFile(t, fmt.Sprintf("f%02d.txt", i), []byte{byte(i)})
	}
	leased := 1
	if ahead {
		leased = 3
	}
	daemontest.Eventually(t, "the backlog", func() bool {
		c, _ := h.Queue().Counts(context.Background())
		return c[queue.Leased] == leased && c[queue.Pending] == backlog+1-leased
	})
	return h, block
}

// A large backlog keeps the next jobs claimed and opened while the upload
// slots are busy (runners ahead of their slot), but no more than `workers`
// uploads run at once, and every file goes once.
func TestLargeBacklogIsClaimedAheadOfTheSlots(t *testing.T) {
	const files = 20
	h, block := startOneSlotBlocked(t, files, true)
	close(block)
	h.WaitIdle(t)
	for i := range files {
		if sum, p := mem.get(fmt.Sprintf("f%02d.txt", i)); sum != sha256hex([]byte{byte(i)}) || p != 1 {
			t.Errorf("f%02d.txt: %d uploads, content %s", i, p, sum)
		}
	}
	if _, peak := mem.running(); peak != 1 {
		t.Fatalf("%d uploads ran at once with workers: 1", peak)
	}
}

// Jobs claimed ahead that still wait for a slot when the stop begins are
// not sent: they return to pending, their attempt uncounted, and go at the
// next start.
func TestStopPutsBackJobsClaimedAhead(t *testing.T) {
	const files = 20
	h, block := startOneSlotBlocked(t, files, true)
	stopped := h.StopAsync()
	close(block)
	<-stopped
	if sum, _ := mem.get("first.txt"); sum == "" {
		t.Fatal("the upload in flight was not finished by the drain")
	}
	for i := range files {
		if _, p := mem.get(fmt.Sprintf("f%02d.txt", i)); p != 0 {
			t.Errorf("f%02d.txt was uploaded after the stop began", i)
		}
	}
	q, err := queue.OpenExisting(context.Background(), filepath.Clean(h.StateDir))
	if err != nil {
		t.Fatal(err)
	}
	js, err := q.Jobs(context.Background(), queue.Pending, "", 100)
	q.Close()
	if err != nil || len(js) != files {
		t.Fatalf("pending after the stop: %d jobs, %v; want %d", len(js), err, files)
	}
	for _, j := range js {
		if j.Attempts != 0 {
			t.Errorf("%s: %d attempts counted for a job that was never sent", j.Rel, j.Attempts)
		}
	}
	h.Restart(t)
	h.WaitIdle(t)
	for i := range files {
		if _, p := mem.get(fmt.Sprintf("f%02d.txt", i)); p != 1 {
			t.Errorf("f%02d.txt: %d uploads after the restart, want 1", i, p)
		}
	}
}

// A job claimed ahead of its slot is not sent once its target is
// throttled while it waits: the server asked for a pause, so the job
// returns to pending uncounted, as the rest of the backlog waits, and only
// the upload that was answered 429 reached the server.
func TestJobsClaimedAheadWaitOutAThrottle(t *testing.T) {
	const files = 20
	h, block := startOneSlotBlocked(t, files, true)
	mem.mu.Lock()
	mem.fail = func(string) error {
		return &targets.Error{Kind: targets.Throttled, Op: "test: put", Status: 429, RetryAfter: time.Hour}
	}
	mem.mu.Unlock()
	close(block)
	daemontest.Eventually(t, "the throttle and the backlog back to pending", func() bool {
		c, _ := h.Queue().Counts(context.Background())
		return !h.PausedUntil(t, "t").IsZero() && c[queue.Leased] == 0 && c[queue.Pending] == files
	})
	sent := 0
	for i := range files {
		_, p := mem.get(fmt.Sprintf("f%02d.txt", i))
		sent += p
	}
	if sent != 1 {
		t.Fatalf("%d uploads reached the throttled target; want only the one it answered 429", sent)
	}
}

// The probe of a down target that waits for the upload slot when the stop
// begins is not sent either: no upload starts after the stop began, and
// the probe's file stays pending for the next start.
func TestStopPutsBackAProbeWaitingForTheSlot(t *testing.T) {
	mem.reset()
	block := make(chan struct{})
	mem.block = block
	mem.fail = func(rel string) error {
		if rel == "y.txt" {
			return &targets.Error{Kind: targets.Unreachable, Op: "test: put", Msg: "connection refused"}
		}
		return nil
	}
	other := filepath.Join(t.TempDir(), "other")
	if err := os.MkdirAll(other, 0o700); err != nil {
		t.Fatal(err)
	}
	h := daemontest.StartYAML(t, "state_dir: {{state}}\nworkers: 1\nshutdown_timeout: 5s\nretry: {initial: 100ms, max: 300ms}\n"+
		"targets:\n  t: {type: test-memory, url: http://127.0.0.1:1}\n  d: {type: test-memory, url: http://127.0.0.1:2}\n"+
		"watches:\n  - {path: {{inbox}}, target: t, settle: 50ms}\n  - {path: "+other+", target: d, settle: 50ms}\n")
	if err := os.WriteFile(filepath.Join(other, "y.txt"), []byte("y"), 0o600); err != nil {
		t.Fatal(err)
	}
	down := func() bool {
		for _, th := range h.Daemon().TargetsHealth() {
			if th.Target == "d" {
				return th.State == queue.TargetDown
			}
		}
		return false
	}
	daemontest.Eventually(t, "the target d down", down)
	h.WriteFile(t, "first.txt", []byte("first"))
	daemontest.Eventually(t, "the first upload to block and the probe to wait for the slot", func() bool {
		c, _ := h.Queue().Counts(context.Background())
		_, p := mem.get("first.txt")
		return p == 1 && c[queue.Leased] == 2
	})
	_, probes := mem.get("y.txt")
	stopped := h.StopAsync()
	close(block)
	<-stopped
	if sum, _ := mem.get("first.txt"); sum == "" {
		t.Fatal("the upload in flight was not finished by the drain")
	}
	if _, p := mem.get("y.txt"); p != probes {
		t.Fatalf("the probe waiting for the slot was sent after the stop began (%d sends, %d before the stop)", p, probes)
	}
	q, err := queue.OpenExisting(context.Background(), filepath.Clean(h.StateDir))
	if err != nil {
		t.Fatal(err)
	}
	js, err := q.Jobs(context.Background(), queue.Pending, "", 10)
	q.Close()
	if err != nil || len(js) != 1 || js[0].Rel != "y.txt" {
		t.Fatalf("pending after the stop: %v, %v; want y.txt", js, err)
	}
}

// Ready jobs held back for a free slot (a small backlog while every slot
// is busy) wait on the slots, not on a timer: the dispatcher does not
// poll the queue for them. The window is a measurement: it must pass with
// nothing happening.
func TestHeldBacklogDoesNotSpinTheDispatcher(t *testing.T) {
	h, block := startOneSlotBlocked(t, 2, false)
	before := daemon.TimerWakeups(h.Daemon())
	<-time.After(time.Second)
	if n := daemon.TimerWakeups(h.Daemon()) - before; n > 4 { // the settle deadlines, and slack
		t.Fatalf("the dispatcher woke %d times on a timer in 1s while two ready jobs waited for the slot", n)
	}
	close(block)
	h.WaitIdle(t)
}

// Remote deletes claimed ahead wait out a throttle as uploads do: the
// delete the server answered 429 is handled before the next one takes
// the slot, and the jobs that waited for it go back untried.
func TestDeletesClaimedAheadWaitOutAThrottle(t *testing.T) {
	mem.reset()
	mdel.reset()
	h := daemontest.StartYAML(t, "state_dir: {{state}}\nworkers: 1\ntargets:\n  t: {type: test-memdel, url: http://127.0.0.1:1}\n"+
		"watches:\n  - {path: {{inbox}}, target: t, settle: 50ms, deletes: propagate}\n")
	const files = 20
	for i := range files {
		h.WriteFile(t, fmt.Sprintf("f%02d.txt", i), []byte{byte(i)})
	}
	for i := range files {
		h.WaitDelivered(t, fmt.Sprintf("f%02d.txt", i), "")
	}
	block := make(chan struct{})
	mdel.dmu.Lock()
	mdel.fail = func(string) error {
		<-block
		return &targets.Error{Kind: targets.Throttled, Op: "test: delete", Status: 429, RetryAfter: time.Hour}
	}
	mdel.dmu.Unlock()
	for i := range files {
		h.Remove(t, fmt.Sprintf("f%02d.txt", i))
	}
	daemontest.Eventually(t, "one delete blocked and two claimed ahead", func() bool {
		c, _ := h.Queue().Counts(context.Background())
		return c[queue.Leased] == 3 && c[queue.Pending] == files-3
	})
	close(block)
	daemontest.Eventually(t, "the throttle and the deletes back to pending", func() bool {
		c, _ := h.Queue().Counts(context.Background())
		return !h.PausedUntil(t, "t").IsZero() && c[queue.Leased] == 0 && c[queue.Pending] == files
	})
	mdel.dmu.Lock()
	calls := mdel.calls
	mdel.dmu.Unlock()
	if calls != 1 {
		t.Fatalf("%d deletes reached the throttled target; want only the one it answered 429", calls)
	}
}
