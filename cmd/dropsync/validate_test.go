package main

import (
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dropsync/dropsync/targets/oracledocs"
)

// validate --online for Oracle used to check the credentials only; a wrong
// folder_id passed and failed at the first upload.
func TestValidateOnlineChecksOracleFolderID(t *testing.T) {
	fake := oracledocs.NewFake()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "in"), 0o700)
	cfg := func(folder string) string {
		return fmt.Sprintf(`state_dir: %s
targets:
  oce:
    type: oracle-documents
    url: %s
    auth: {type: basic, username: %s, password: %s}
watches:
  - path: %s
    target: oce
    destination: {folder_id: %s}
`, filepath.Join(dir, "state"), srv.URL, oracledocs.FakeUser, oracledocs.FakePassword, filepath.Join(dir, "in"), folder)
	}
	out, stderr, code := runCLI(t, "validate", "--online", "-c", writeConfig(t, t.TempDir(), cfg("F0000000000000000000000000000000000000000000")))
	if code != 1 || !strings.Contains(out, "destination.folder_id: F0000000000000000000000000000000000000000000 does not exist on the server") {
		t.Errorf("a wrong folder_id: exit %d, %q %q", code, out, stderr)
	}
	out, stderr, code = runCLI(t, "validate", "--online", "-c", writeConfig(t, t.TempDir(), cfg(oracledocs.FakeFolderID)))
	if code != 0 || !strings.Contains(out, "destination OK") {
		t.Errorf("the right folder_id: exit %d, %q %q", code, out, stderr)
	}
}

// validate accepted metrics.listen: 127.0.0.1:99999, and the daemon then
// failed at start.
func TestValidateRejectsMetricsPortOutOfRange(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "in"), 0o700)
	for _, listen := range []string{"127.0.0.1:99999", "127.0.0.1:-1", "127.0.0.1:http-alt"} {
		text := strings.Replace(sensenetConfig(dir, "http://127.0.0.1:1", "x", ""), "shutdown_timeout: 2s", "shutdown_timeout: 2s\nmetrics: {listen: \""+listen+"\"}", 1)
		_, stderr, code := runCLI(t, "validate", "-c", writeConfig(t, t.TempDir(), text))
		if code != 1 || !strings.Contains(stderr, "metrics.listen") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("metrics.listen %s: exit %d, %q; want one line naming metrics.listen", listen, code, stderr)
		}
	}
	text := strings.Replace(sensenetConfig(dir, "http://127.0.0.1:1", "x", ""), "shutdown_timeout: 2s", "shutdown_timeout: 2s\nmetrics: {listen: \"127.0.0.1:9464\"}", 1)
	if _, stderr, code := runCLI(t, "validate", "-c", writeConfig(t, t.TempDir(), text)); code != 0 {
		t.Errorf("metrics.listen 127.0.0.1:9464: exit %d, %q", code, stderr)
	}
}
