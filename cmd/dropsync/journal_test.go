//go:build linux

package main

import (
	"bytes"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/targets/sensenet"
)

// Under systemd every line used to reach the journal at priority 6 with
// two timestamps; `journalctl -p err` showed nothing. With JOURNAL_STREAM
// naming stderr, each line starts with its priority and has no time.
func TestJournalPriorities(t *testing.T) {
	fake := sensenet.NewFake()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "in"), 0o700)
	cfg := writeConfig(t, dir, strings.Replace(sensenetConfig(dir, srv.URL, sensenet.DemoToken, ""), "format: json", "format: text", 1))
	errFile, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer errFile.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(errFile.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	fake.Inject(1, sensenet.Fault{Status: 403})
	if err := os.WriteFile(filepath.Join(dir, "in", "denied.txt"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := dropsync("run", "-c", cfg)
	cmd.Env = append(cmd.Env, fmt.Sprintf("JOURNAL_STREAM=%d:%d", st.Dev, st.Ino))
	cmd.Stderr = errFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	read := func() string { b, _ := os.ReadFile(errFile.Name()); return string(b) }
	daemontest.Eventually(t, "the permanent failure in the log", func() bool { return strings.Contains(read(), "upload failed permanently") })
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	for _, l := range strings.Split(strings.TrimSpace(read()), "\n") {
		if strings.Contains(l, "time=") {
			t.Errorf("a journal line carries its own timestamp: %s", l)
		}
		want := "<6>"
		switch {
		case strings.Contains(l, "level=ERROR"):
			want = "<3>"
		case strings.Contains(l, "level=WARN"):
			want = "<4>"
		case strings.Contains(l, "level=DEBUG"):
			want = "<7>"
		}
		if !strings.HasPrefix(l, want) {
			t.Errorf("line without priority %s: %s", want, l)
		}
	}
	if !strings.Contains(read(), "<3>level=ERROR msg=\"upload failed permanently\"") {
		t.Errorf("the error line does not reach the journal at priority 3:\n%s", read())
	}

	// log.format: journal asks for the same without JOURNAL_STREAM; a
	// stream systemd did not connect is not taken for the journal.
	var buf bytes.Buffer
	newLogger(config.Log{Level: "info", Format: "journal"}, &buf).Warn("w", "k", 1)
	if got := buf.String(); got != "<4>level=WARN msg=w k=1\n" {
		t.Errorf("log.format journal: %q", got)
	}
	t.Setenv("JOURNAL_STREAM", "1:2")
	if toJournal(errFile) {
		t.Error("a stream that JOURNAL_STREAM does not name is taken for the journal")
	}
}
