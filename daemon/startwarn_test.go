package daemon_test

import (
	"bytes"
	"context"
	"database/sql"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dropsync/dropsync/daemon"
	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/queue"
)

// What opening the queue could not do, and costs only speed, is a warning
// in the daemon's log at start: the operator sees why deliveries are
// slower than they should be.
func TestStartLogsWhatTheQueueCouldNotReshape(t *testing.T) {
	clients.reset()
	h := daemontest.StartYAML(t, reloadConfig("http://one", "{{inbox}}"))
	h.Stop()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(h.StateDir, queue.FileName))
	if err != nil {
		t.Fatal(err)
	}
	// A table where an index of jobs belongs: the index cannot be made.
	if _, err := db.Exec(`DROP INDEX jobs_path; CREATE TABLE jobs_path (x)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	var log bytes.Buffer
	d, err := daemon.New(context.Background(), h.Config, daemon.Options{Log: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // New has logged what it found; Run only closes what New opened
	if err := d.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if line := log.String(); !strings.Contains(line, "level=WARN") || !strings.Contains(line, "job indexes") || !strings.Contains(line, "jobs_path") {
		t.Fatalf("log at start:\n%s\nwant a warning naming the job indexes and jobs_path", line)
	}
}
