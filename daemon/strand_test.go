package daemon_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dropsync/dropsync/daemon"
	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/targets/sensenet"
)

// TestUnrecordedDeliveryIsRecordedNotSentAgain: another process (an
// operator's sqlite3 shell, `dropsync queue retry`) holds the database's
// write lock while a file is uploaded, longer than the daemon waits for
// it, so the delivery's outcome cannot be written. Once the lock goes, the
// daemon records that outcome; it does not send the file a second time,
// and the delivery is reported (metrics) once it is recorded.
func TestUnrecordedDeliveryIsRecordedNotSentAgain(t *testing.T) {
	mem.reset()
	obs := &countDeliveries{want: 1, done: make(chan struct{})}
	h := daemontest.StartObserved(t, obs, memTargetYAML, "")
	ctx := context.Background()
	hold := secondConn(t, h)
	var once sync.Once
	locked := make(chan error, 1)
	mem.mu.Lock()
	mem.fail = func(rel string) error {
		once.Do(func() { // the upload runs: take the write lock before it ends
			_, err := hold.ExecContext(ctx, "BEGIN IMMEDIATE")
			locked <- err
		})
		return nil
	}
	mem.mu.Unlock()
	sha := h.WriteRandom(t, "report.pdf", 1000)
	if err := <-locked; err != nil {
		t.Fatal(err)
	}
	daemontest.Eventually(t, "the delivery's outcome stranded", func() bool { return daemon.Stranded(h.Daemon()) > 0 })
	if _, err := hold.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	h.WaitDelivered(t, "report.pdf", sha)
	h.WaitIdle(t)
	if got, puts := mem.get("report.pdf"); got != sha || puts != 1 {
		t.Fatalf("the server holds %s after %d uploads, want %s after 1", got, puts, sha)
	}
	daemontest.Eventually(t, "the delivery reported", func() bool { return obs.n.Load() >= 1 })
	if n := obs.n.Load(); n != 1 {
		t.Fatalf("the delivery was reported %d times, want once", n)
	}
}

// secondConn opens a connection of the test's own to h's database, as
// another program would, closed when the test ends.
func secondConn(t *testing.T, h *daemontest.Harness) *sql.Conn {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(h.StateDir, queue.FileName)+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// strandClash starts a daemon on the sensenet fake, drops Report.txt and
// report.txt (one remote name) into a new folder, takes the database's
// write lock from another connection once both are claimed and the first
// upload has begun, and returns once that delivery's outcome is stranded;
// the test releases the lock with ROLLBACK on hold.
func strandClash(t *testing.T) (h *daemontest.Harness, fake *sensenet.Fake, hold *sql.Conn) {
	fake = sensenet.NewFake()
	var started atomic.Pointer[daemontest.Harness] // h, for the server's goroutines
	var once sync.Once
	locked := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/Upload") {
			once.Do(func() { // both files are claimed: then the database is taken
				ctx := context.Background()
				for deadline := time.Now().Add(time.Minute); ; {
					js, err := started.Load().Queue().Jobs(ctx, queue.Leased, "", 10)
					if err != nil {
						locked <- err
						return
					}
					if len(js) == 2 {
						break
					}
					if time.Now().After(deadline) {
						locked <- fmt.Errorf("%d jobs leased after a minute, want both", len(js))
						return
					}
					time.Sleep(time.Millisecond) // polling the daemon's claim, with a deadline
				}
				_, err := hold.ExecContext(ctx, "BEGIN IMMEDIATE")
				locked <- err
			})
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { srv.Close(); fake.Close() })
	h = daemontest.Start(t, fmt.Sprintf("type: sensenet\nurl: %s\nauth: {type: bearer, token: %s}\n", srv.URL, sensenet.DemoToken),
		"destination: {path: "+sensenet.DocumentsPath+"}\n")
	started.Store(h)
	hold = secondConn(t, h)
	dropClash(t, h, "in")
	if err := <-locked; err != nil {
		t.Fatal(err)
	}
	daemontest.Eventually(t, "the first delivery's outcome stranded", func() bool { return daemon.Stranded(h.Daemon()) > 0 })
	return h, fake, hold
}

// TestUnrecordedDeliveryKeepsItsName: Report.txt and report.txt meet in
// one remote name. The one uploaded first cannot have its outcome written
// (another program holds the database); the other, claimed meanwhile and
// waiting for the name, must not take the name while no record says
// whose it is: it waits until the first delivery is recorded, then fails
// naming both paths, and the server holds one version.
func TestUnrecordedDeliveryKeepsItsName(t *testing.T) {
	h, fake, hold := strandClash(t)
	if _, err := hold.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	delivered, failed := clashSettled(t, h, "in")
	h.WaitIdle(t)
	c, _ := fake.Content(sensenet.DocumentsPath + "/in/report.txt")
	if len(delivered) != 1 || len(failed) != 1 || len(c.Versions) != 1 {
		t.Fatalf("delivered %v, failed %v, %d versions on the server: want one of each and one version", delivered, failed, len(c.Versions))
	}
}

// TestStopWritesStrandedOutcomesFirst: a stop that begins while a
// delivery's outcome is stranded, and a runner waits for its remote name,
// writes that outcome at once (the database is free again) instead of
// waiting for the runner until shutdown_timeout (5 s here), and the
// delivery is on record afterwards.
func TestStopWritesStrandedOutcomesFirst(t *testing.T) {
	h, fake, hold := strandClash(t)
	if _, err := hold.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	h.Stop()
	if took := time.Since(start); took > 2500*time.Millisecond {
		t.Errorf("the stop took %s, held by the runner waiting for the stranded delivery's name", took)
	}
	q, err := queue.OpenExisting(context.Background(), h.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	recorded := 0
	for _, name := range []string{"Report.txt", "report.txt"} {
		if st, _ := q.FileState(context.Background(), h.WatchPath(), "in/"+name); st != nil {
			recorded++
		}
	}
	c, _ := fake.Content(sensenet.DocumentsPath + "/in/report.txt")
	if recorded != 1 || len(c.Versions) != 1 {
		t.Fatalf("%d deliveries on record, %d versions on the server: want 1 and 1", recorded, len(c.Versions))
	}
}
