package main

import (
	"context"
	"database/sql"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/targets/sensenet"
)

func schemaVersion(t *testing.T, db string, set int) int {
	t.Helper()
	c, err := sql.Open("sqlite3", "file:"+db)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if set >= 0 {
		if _, err := c.Exec(`PRAGMA user_version = ` + strconv.Itoa(set)); err != nil {
			t.Fatal(err)
		}
	}
	var v int
	if err := c.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// status and queue list read the database read-only: they never migrate
// it (a newer CLI beside an older running daemon), and refuse a schema
// they do not understand in one line. queue retry and forget write through
// the queue's own methods but never migrate either.
func TestInspectionNeverMigratesTheDatabase(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "in"), 0o700)
	cfg := writeConfig(t, dir, sensenetConfig(dir, "http://127.0.0.1:1", "tok", ""))
	q, err := queue.Open(context.Background(), filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	q.Close()
	db := filepath.Join(dir, "state", queue.FileName)
	current := schemaVersion(t, db, -1)
	if out, stderr, code := runCLI(t, "status", "-c", cfg); code != 0 {
		t.Fatalf("status of a current database: %d %q %q", code, out, stderr)
	}
	older := current - 1
	schemaVersion(t, db, older) // as left by the daemon still running the previous release
	for _, args := range [][]string{{"status"}, {"status", "--json"}, {"queue", "list"}, {"queue", "retry", "--failed"}, {"queue", "forget", "1"}} {
		_, stderr, code := runCLI(t, append(args, "-c", cfg)...)
		if code != 1 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "is older than this dropsync understands") || !strings.Contains(stderr, db) {
			t.Errorf("%v: exit %d, stderr %q; want one line refusing the older schema", args, code, stderr)
		}
		if v := schemaVersion(t, db, -1); v != older {
			t.Fatalf("%v migrated the database from schema %d to %d under the running daemon", args, older, v)
		}
	}
}

// queue retry beside a running daemon: the daemon sends the file again
// within a second or two, without a restart.
func TestQueueRetryReachesTheRunningDaemon(t *testing.T) {
	fake := sensenet.NewFake()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	defer fake.Close()
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "in"), 0o700)
	cfg := writeConfig(t, dir, sensenetConfig(dir, srv.URL, sensenet.DemoToken, ""))
	// A permission on the item is refused once (403 is about the file; a
	// rejected token would pause the target instead of failing the file).
	fake.Inject(1, sensenet.Fault{Op: sensenet.OpWhole, Status: 403, Message: "Access denied for the user dropsync."})
	_, logs, _ := startRun(t, cfg)
	sha := writeRandom(t, filepath.Join(dir, "in", "a.txt"), 100)
	daemontest.Eventually(t, "the rejection", func() bool { return strings.Contains(logs.String(), "upload failed permanently") })
	// the server's side is fixed: the fault was for one request
	out, stderr, code := runCLI(t, "queue", "retry", "--failed", "-c", cfg)
	if code != 0 || !strings.Contains(out, "re-queued 1 failed job(s); the running daemon picks them up within a second") {
		t.Fatalf("retry: %d %q %q", code, out, stderr)
	}
	daemontest.Eventually(t, "the delivery after the retry", func() bool {
		c, ok := fake.Content(sensenet.DocumentsPath + "/a.txt")
		return ok && c.Current().SHA256 == sha
	})
}
