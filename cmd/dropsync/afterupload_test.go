package main

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/targets/sensenet"
)

// A failing after_upload move used to be only logged: status showed 0
// failed. status counts it and names the file.
func TestStatusShowsFailedAfterUploadMove(t *testing.T) {
	fake := sensenet.NewFake()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	dir := t.TempDir()
	done := filepath.Join(dir, "done")
	for _, d := range []string{filepath.Join(dir, "in"), done} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	text := strings.Replace(sensenetConfig(dir, srv.URL, sensenet.DemoToken, ""), "    settle: 200ms\n", "    settle: 200ms\n    after_upload: move\n    move_to: "+done+"\n", 1)
	cfg := writeConfig(t, dir, text)
	_, logs, _ := startRun(t, cfg)
	daemontest.Eventually(t, "the start", func() bool { return strings.Contains(logs.String(), "dropsync started") })
	// move_to passed the start-up check; then someone puts a file where
	// the folder was, and every move fails.
	if err := os.Remove(done); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(done, []byte("not a folder"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "in", "a.txt"), []byte("delivered, not moved"), 0o600); err != nil {
		t.Fatal(err)
	}
	var r statusReport
	daemontest.Eventually(t, "status to count the failed move", func() bool {
		out, _, code := runCLI(t, "status", "--json", "-c", cfg)
		if code != 0 {
			return false
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("status --json: %v\n%s", err, out)
		}
		return r.AfterUploadFailed == 1
	})
	if len(r.AfterUploadFailures) != 1 || r.AfterUploadFailures[0].Rel != "a.txt" || r.AfterUploadFailures[0].Action != "move" {
		t.Fatalf("after_upload failures: %+v\n%s", r.AfterUploadFailures, logs.String())
	}
	out, _, _ := runCLI(t, "status", "-c", cfg)
	if !strings.Contains(out, "after_upload: 1 failed") || !strings.Contains(out, filepath.Join(dir, "in", "a.txt")) {
		t.Fatalf("status:\n%s", out)
	}
}
