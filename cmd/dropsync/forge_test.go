package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dropsync/dropsync/queue"
)

// A file name is the
// one thing in `dropsync status` that whoever can write into a drop folder
// chooses. Linux file names may hold newlines and escape sequences; status
// printed the relative path raw (status.go: "#%-5d %-10s %s" for failures,
// the uploading and still-being-written lists), so a name like
// "x\n  #999   docs       payroll.pdf ..." forges a failure line or hides
// one, and ESC sequences reach the operator's terminal. oneLine is applied
// to the error text only. Every record must stay one line per field.
func TestStatusCannotBeForgedByAFileName(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	forged := "ok.pdf\n  #999   docs       payroll.pdf  2026-11-23 09:59:59\n         sensenet: upload: Access denied (HTTP 403)\n\x1b[2Kx"
	r := &statusReport{
		StateDir:  "/var/lib/dropsync",
		Daemon:    "running",
		Counts:    map[string]int{queue.Failed: 1, queue.Leased: 1},
		Uploading: []uploadStatus{{ID: 7, Target: "docs", Path: forged, BytesDone: 1, BytesTotal: 2, StartedAt: now}},
		Failures:  []*queue.Job{{ID: 12, Target: "docs", Rel: forged, UpdatedAt: now, LastError: "sensenet: upload: Access denied (HTTP 403)"}},
		Writing:   []*queue.Job{{ID: 14, Target: "docs", Rel: forged, LastError: queue.StillWriting}},
	}
	var b bytes.Buffer
	printStatus(&b, r, now)
	out := b.String()
	if strings.Contains(out, "\n  #999") {
		t.Errorf("a file name forged a failure line (#999 payroll.pdf) in dropsync status:\n%s", out)
	}
	if strings.Contains(out, "\x1b") {
		t.Errorf("a file name sent a terminal escape sequence through dropsync status: %q", out)
	}
}

// `dropsync queue list` printed
// j.Rel raw into its table (queuecmd.go), one row per job; a name with a
// newline makes a second, forged row.
func TestQueueListCannotBeForgedByAFileName(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "in"), 0o700)
	cfg := writeConfig(t, dir, sensenetConfig(dir, "http://127.0.0.1:1", "tok", ""))
	q, err := queue.Open(context.Background(), filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	forged := "ok.pdf\n999  failed  1  docs  payroll.pdf"
	q.Enqueue(context.Background(), []queue.Item{{Watch: filepath.Join(dir, "in"), Rel: forged, Target: "docs"}})
	q.Close()
	out, _, code := runCLI(t, "queue", "list", "-c", cfg)
	if code != 0 {
		t.Fatalf("list: %d %q", code, out)
	}
	if strings.Contains(out, "\n999") {
		t.Errorf("a file name forged a row in dropsync queue list:\n%s", out)
	}
}
